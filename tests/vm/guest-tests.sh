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
        tail -n 40 "$log" | sed 's/^/| /' > "$results"
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
    rmdir /sys/fs/cgroup/berth-vm 2>/dev/null
    return 0
}

# Nothing any test made may be left in the hierarchy.
no_cgroups_left() {
    left=$(find /sys/fs/cgroup -mindepth 1 -type d)
    [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

# `guest-tests.sh --call FUNCTION|PROGRAM ARGS...` runs one test (so `timeout` can run a function).
if [ "$1" = "--call" ]; then
    shift
    "$@"
    exit $?
fi

run cgroup2_mounted 10 check_cgroup2
for rt in runc berth; do
    if [ -x "/bin/$rt" ]; then
        run "${rt}_limits" 120 runtime_limits "$rt"
    fi
done
for t in /tests/*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" 240 "$t" --test-threads=2
done
run no_cgroups_left 10 no_cgroups_left

echo "SUMMARY passed=$passed failed=$failed" > "$results"
