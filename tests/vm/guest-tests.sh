#!/bin/sh
# The tests run inside the cgroup v2 VM. Each test writes "RESULT <name> PASS|FAIL" to the
# results port ($1), a failure followed by the tail of its log as "| " lines; the last line
# is "SUMMARY passed=N failed=M". Every command runs under a timeout.
self=$0
results=$1
passed=0
failed=0

# run NAME SECONDS COMMAND...: run a test, record its verdict.
run() {
    name=$1 seconds=$2
    shift 2
    log=/tmp/$name.log
    echo "=== $name (uptime $(cut -d' ' -f1 /proc/uptime))" > /dev/console
    if timeout -s KILL "$seconds" sh "$self" --call "$@" > "$log" 2>&1; then
        passed=$((passed + 1))
        echo "RESULT $name PASS" > "$results"
    else
        failed=$((failed + 1))
        echo "RESULT $name FAIL" > "$results"
        # The panics (with what they said), then the end of the log.
        { grep -A6 'panicked at' "$log" | head -n 60; tail -n 25 "$log"; } | sed 's/^/| /' > "$results"
    fi
    cat "$log" > /dev/console
}

# The hierarchy is pure v2 with the controllers the tests need enabled for children.
check_cgroup2() {
    grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || return 1
    grep -q ' cgroup ' /proc/mounts && return 1
    for c in cpu cpuset io memory pids hugetlb; do
        grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control || { echo "missing $c"; return 1; }
    done
}

# runtime_limits RUNTIME: run the limits bundle; its process prints its own cgroup files.
runtime_limits() {
    rt=$1
    out=/tmp/$rt-limits.out
    cd /bundles/limits || return 1
    "$rt" --root "/run/$rt" run "vm-$rt-limits" > "$out" 2>&1
    status=$?
    cd /
    cat "$out"
    [ "$status" = 0 ] || { echo "exit status $status"; return 1; }
    for want in '^33554432$' '^20$' '^50000 100000$' 'null-ok' 'kmsg-rc=1'; do
        grep -q "$want" "$out" || { echo "missing $want"; return 1; }
    done
    # cpu.shares 512 is cpu.weight 20 (the same number as pids.max, so count both).
    [ "$(grep -c '^20$' "$out")" = 2 ] || { echo "cpu.weight is not 20"; return 1; }
    [ ! -d /sys/fs/cgroup/berth-vm/limits ] || { echo "cgroup left behind"; return 1; }
}

# make_bundle NAME ARGS_JSON: the limits bundle's config with other args and its own
# cgroupsPath /berth-vm/NAME, sharing the read-only rootfs. Prints the bundle directory.
make_bundle() {
    dir=/tmp/bundle-$1
    mkdir -p "$dir"
    sed -e "s|\"args\": \[.*\]|\"args\": $2|" \
        -e 's|"path": "rootfs"|"path": "/bundles/limits/rootfs"|' \
        -e "s|/berth-vm/limits|/berth-vm/$1|" /bundles/limits/config.json > "$dir/config.json"
    echo "$dir"
}

# runtime_lifecycle RUNTIME: pause, resume, update, events --stats, ps and delete of a
# detached container, checked in its cgroup files.
runtime_lifecycle() {
    rt=$1
    name=$rt-life
    id=vm-$name
    cg=/sys/fs/cgroup/berth-vm/$name
    r() { "$rt" --root "/run/$rt" "$@"; }
    bundle=$(make_bundle "$name" '["sleep", "1000"]')
    (cd "$bundle" && r run -d "$id" < /dev/null > /dev/null) || { echo "run -d failed"; return 1; }
    trap 'r delete -f "$id" > /dev/null 2>&1' EXIT
    r pause "$id" || return 1
    r state "$id" | grep -q '"status": *"paused"' || { echo "state is not paused"; r state "$id"; return 1; }
    grep -q 'frozen 1' "$cg/cgroup.events" || { echo "not frozen: $(cat "$cg/cgroup.events")"; return 1; }
    r resume "$id" || return 1
    r state "$id" | grep -q '"status": *"running"' || { echo "state is not running"; return 1; }
    grep -q 'frozen 0' "$cg/cgroup.events" || { echo "still frozen"; return 1; }
    r update --memory 67108864 --pids-limit 30 "$id" || return 1
    [ "$(cat "$cg/memory.max")" = 67108864 ] || { echo "memory.max $(cat "$cg/memory.max")"; return 1; }
    [ "$(cat "$cg/pids.max")" = 30 ] || { echo "pids.max $(cat "$cg/pids.max")"; return 1; }
    r events --stats "$id" > /tmp/$name.events || return 1
    cat /tmp/$name.events
    grep -q '"memory"' /tmp/$name.events && grep -q '"pids"' /tmp/$name.events || { echo "stats lack memory or pids"; return 1; }
    r ps "$id" | grep -q sleep || { echo "ps does not show sleep"; r ps "$id"; return 1; }
    r delete -f "$id" || return 1
    trap - EXIT
    [ ! -d "$cg" ] || { echo "cgroup $cg left behind"; return 1; }
}

# runtime_behaviour RUNTIME: over the memory limit the process is OOM-killed (exit 137);
# past the pids limit fork fails.
runtime_behaviour() {
    rt=$1
    bundle=$(make_bundle "$rt-oom" '["/bin/eat-memory"]')
    out=$(cd "$bundle" && "$rt" --root "/run/$rt" run "vm-$rt-oom" 2>&1 < /dev/null)
    status=$?
    echo "oom: exit $status: $out"
    [ "$status" = 137 ] || { echo "expected exit 137 (SIGKILL by the OOM killer)"; return 1; }
    bundle=$(make_bundle "$rt-pids" '["/bin/fork-many"]')
    out=$(cd "$bundle" && "$rt" --root "/run/$rt" run "vm-$rt-pids" 2>&1 < /dev/null)
    echo "pids: $out"
    echo "$out" | grep -qi "fork" || { echo "fork did not fail under pids.max=20"; return 1; }
    for d in "$rt-oom" "$rt-pids"; do
        [ ! -d "/sys/fs/cgroup/berth-vm/$d" ] || { echo "cgroup $d left behind"; return 1; }
    done
}

# containerd (when put in as /bin/containerd, with ctr and the shims) on a private socket and
# root, the busybox image imported into the native snapshotter (overlayfs is a module the VM
# does not load). It keeps running for the shim tests; containerd_down ends it.
ctd=/run/ctd
ctr_() { ctr --address "$ctd/containerd.sock" -n vm "$@"; }
containerd_up() {
    export PATH=/bin:/sbin:/usr/bin:/usr/sbin
    mkdir -p "$ctd"
    printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/containerd.sock"\n' \
        "$ctd" "$ctd" "$ctd" > "$ctd/config.toml"
    containerd --config "$ctd/config.toml" > "$ctd/containerd.log" 2>&1 &
    echo $! > "$ctd/pid"
    for i in $(seq 120); do ctr_ version > /dev/null 2>&1 && break; sleep 0.5; done
    ctr_ version > /dev/null || { tail -n 20 "$ctd/containerd.log"; return 1; }
    ctr_ images import --snapshotter native /images/busybox.tar || return 1
}

# Wait up to SECONDS for a line of FILE with both words.
wait_line() {
    for i in $(seq $(($3 * 5))); do
        grep "$2" "$1" 2>/dev/null | grep -q "$4" && return 0
        sleep 0.2
    done
    return 1
}

# shim_oom SHIM: through containerd-shim-SHIM-v2, a task over its memory limit is OOM-killed,
# exits 137, and containerd gets a /tasks/oom event for it (on v2, from memory.events).
shim_oom() {
    shim=$1
    ctr_ events > "/tmp/$shim-events" 2>&1 &
    events=$!
    trap 'kill $events 2>/dev/null' EXIT
    # One awk doubling a string: past the 32 MiB limit within a few steps.
    out=$(ctr_ run --rm --snapshotter native --runtime "io.containerd.$shim.v2" --memory-limit 33554432 \
        busybox:latest "oom-$shim" awk 'BEGIN { s = "x"; while (1) s = s s }' 2>&1)
    status=$?
    echo "oom task: exit $status: $out"
    wait_line "/tmp/$shim-events" /tasks/oom 20 "oom-$shim" || { echo "no /tasks/oom event:"; cat "/tmp/$shim-events"; return 1; }
    grep "oom-$shim" "/tmp/$shim-events"
    [ "$status" = 137 ] || { echo "expected exit 137"; return 1; }
    [ ! -d "/sys/fs/cgroup/vm/oom-$shim" ] || { echo "cgroup oom-$shim left behind"; return 1; }
}

# shim_metrics SHIM: `ctr task metrics` of a running task is cgroup v2 Metrics (ctr prints
# memory.usage, memory.usage_limit and cpu.usage_usec only for those), with the task's limit
# and its one process.
shim_metrics() {
    shim=$1
    id=metrics-$shim
    ctr_ run -d --snapshotter native --runtime "io.containerd.$shim.v2" --memory-limit 67108864 \
        busybox:latest "$id" sleep 600 || return 1
    ctr_ task metrics "$id" > "/tmp/$id" 2>&1
    status=$?
    cat "/tmp/$id"
    ctr_ task kill -s KILL "$id"
    for i in $(seq 50); do ctr_ task ls | grep "$id" | grep -q STOPPED && break; sleep 0.2; done
    ctr_ task delete "$id" && ctr_ container rm "$id" || return 1
    [ "$status" = 0 ] || return 1
    value() { awk -v k="$1" '$1 == k { print $2 }' "/tmp/$id"; }
    [ "$(value memory.usage)" -gt 0 ] 2>/dev/null || { echo "no memory.usage above 0"; return 1; }
    [ "$(value memory.usage_limit)" = 67108864 ] || { echo "memory.usage_limit is not the limit"; return 1; }
    [ "$(value pids.current)" = 1 ] || { echo "pids.current is not 1"; return 1; }
    [ -n "$(value cpu.usage_usec)" ] || { echo "no cpu.usage_usec"; return 1; }
    [ ! -d "/sys/fs/cgroup/vm/$id" ] || { echo "cgroup $id left behind"; return 1; }
}

# Stop containerd (no shim may be left) and remove the namespace's cgroup.
containerd_down() {
    left=$(ctr_ task ls -q)
    kill "$(cat "$ctd/pid")"
    for i in $(seq 50); do kill -0 "$(cat "$ctd/pid")" 2>/dev/null || break; sleep 0.2; done
    rmdir /sys/fs/cgroup/vm 2>/dev/null
    [ -z "$left" ] || { echo "tasks left: $left"; return 1; }
    shims=$(ps | grep containerd-shim | grep -v grep)
    [ -z "$shims" ] || { echo "shims left: $shims"; return 1; }
}

# Nothing any test made may be left in the hierarchy.
no_cgroups_left() {
    left=$(find /sys/fs/cgroup -mindepth 1 -type d)
    [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

# systemd_scope: under systemd (berth_init=systemd) the systemd driver's test must run for real.
systemd_scope() {
    out=$(/tests/cgroupfs --exact systemd_creates_the_scope_and_berth_limits_it --nocapture 2>&1)
    status=$?
    echo "$out"
    [ "$status" = 0 ] || return 1
    echo "$out" | grep -q "nothing to check" && { echo "systemd was not detected"; return 1; }
    echo "$out" | grep -q "1 passed" || { echo "the test did not run"; return 1; }
}

# `guest-tests.sh --call FUNCTION|PROGRAM ARGS...` runs one test (so `timeout` can run a function).
if [ "$1" = "--call" ]; then
    shift
    "$@"
    exit $?
fi

if [ "$2" = "--systemd" ]; then
    (sleep 200; echo "SUMMARY timeout" > "$results"; poweroff -f) &
    run systemd_running 10 test -d /run/systemd/system
    run systemd_scope 120 systemd_scope
    echo "SUMMARY passed=$passed failed=$failed" > "$results"
    exit 0
fi

run cgroup2_mounted 10 check_cgroup2
for rt in runc berth; do
    if [ -x "/bin/$rt" ]; then
        run "${rt}_limits" 120 runtime_limits "$rt"
        run "${rt}_lifecycle" 120 runtime_lifecycle "$rt"
        run "${rt}_behaviour" 120 runtime_behaviour "$rt"
    fi
done
rmdir /sys/fs/cgroup/berth-vm 2>/dev/null
if [ -x /bin/containerd ]; then
    run containerd_up 120 containerd_up
    for shim in runc berth; do
        [ -x "/bin/containerd-shim-$shim-v2" ] || continue
        run "${shim}_shim_oom" 90 shim_oom "$shim"
        run "${shim}_shim_metrics" 90 shim_metrics "$shim"
    done
    run containerd_down 30 containerd_down
fi
for t in /tests/*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" 240 "$t" --test-threads=2
done
run no_cgroups_left 10 no_cgroups_left

echo "SUMMARY passed=$passed failed=$failed" > "$results"
