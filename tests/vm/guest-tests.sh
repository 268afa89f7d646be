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
    echo "=== $name" > /dev/console
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
for t in /tests/*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" 240 "$t" --test-threads=2
done
run no_cgroups_left 10 no_cgroups_left

echo "SUMMARY passed=$passed failed=$failed" > "$results"
