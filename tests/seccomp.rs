//! linux.seccomp: actions, errno values, argument conditions and kill, checked by what the
//! container's own syscalls get back.

use berth_e2e::run_script;
use serde_json::{json, Value};

/// A writable /tmp for scripts that create files.
fn with_tmp(bundle: &mut berth_e2e::Bundle, seccomp: Value) {
    bundle.add_mount(json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"] }));
    bundle.edit(|c| c["linux"]["seccomp"] = seccomp);
}

#[test]
fn an_errno_rule_returns_its_errno_and_the_filter_is_in_place() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }]
    });
    let out = run_script("seccomp-errno", "mkdir /tmp/x 2>&1; grep '^Seccomp:' /proc/self/status", |b| with_tmp(b, profile));
    assert!(out.contains("Permission denied"), "mkdir was not refused with EACCES:\n{out}");
    assert!(out.contains("Seccomp:\t2"), "no seccomp filter (mode 2) on the process:\n{out}");
}

#[test]
fn the_default_action_errno_is_eperm_unless_given() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }]
    });
    let out = run_script("seccomp-eperm", "mkdir /tmp/x 2>&1; true", |b| with_tmp(b, profile));
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn argument_conditions_pick_the_calls_they_name() {
    // Refuse chmod to mode 0777 only; 0755 passes.
    let deny_777 = |index: u32| json!({ "index": index, "value": 0o777, "op": "SCMP_CMP_EQ" });
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [deny_777(1)] },
            { "names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [deny_777(2)] }
        ]
    });
    let script = "touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 777 /tmp/f 2>/dev/null || echo 777-refused; stat -c %a /tmp/f";
    let out = run_script("seccomp-args", script, |b| with_tmp(b, profile));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["755-ok", "777-refused", "755"], "{out}");
}

#[test]
fn a_kill_rule_kills_the_caller_with_sigsys() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS" }]
    });
    let out = run_script("seccomp-kill", "sync; echo sync=$?", |b| with_tmp(b, profile));
    // 128 + SIGSYS (31).
    assert!(out.contains("sync=159"), "{out}");
}

#[test]
fn an_allow_list_profile_runs_the_container() {
    // The shape of docker's and podman's profiles: refuse everything not listed.
    let allowed = [
        "read", "write", "openat", "open", "close", "fstat", "newfstatat", "stat", "lstat", "statx", "lseek", "mmap",
        "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "access", "faccessat",
        "faccessat2", "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "execve", "exit", "exit_group",
        "wait4", "clone", "clone3", "fork", "vfork", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
        "prlimit64", "getrandom", "uname", "fcntl", "dup2", "dup3", "pipe", "pipe2", "getcwd", "chdir", "readlink",
        "readlinkat", "getdents64", "sysinfo", "prctl", "futex", "getpgrp", "setpgid", "getrlimit", "capget", "capset",
        "setresuid", "setresgid", "setgroups", "umask", "close_range", "mount", "umount2", "writev", "sigaltstack",
        // What runc's Go runtime needs between installing the filter and exec.
        "fstatfs", "statfs", "epoll_create1", "epoll_ctl", "epoll_pwait", "sched_yield", "tgkill", "gettid",
        "nanosleep", "clock_gettime", "madvise", "sched_getaffinity", "fchdir", "fchown", "setsid", "kill",
        "getdents", "pread64", "keyctl", "mincore", "pidfd_open", "pidfd_send_signal", "waitid",
    ];
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            { "names": allowed.to_vec(), "action": "SCMP_ACT_ALLOW" },
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }
        ]
    });
    let script = "echo listed-calls-work; mkdir /tmp/x 2>&1; sync; echo sync=$?";
    let out = run_script("seccomp-allowlist", script, |b| with_tmp(b, profile));
    assert!(out.contains("listed-calls-work"), "{out}");
    assert!(out.contains("Function not implemented"), "mkdir should get ENOSYS (38):\n{out}");
}
