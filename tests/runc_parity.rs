//! Behaviour that managers and runc's own integration tests rely on (runc's
//! tests/integration/{seccomp,cwd,exec,kill,ps,events,debug}.bats), checked against berth and
//! against runc (`BERTH_RUNTIME=/usr/sbin/runc`).

use berth_e2e::{fixture, run_foreground, sleeper, Container, TempDir};
use serde_json::json;

// --- seccomp (seccomp.bats) ---

#[test]
fn a_profile_refusing_close_range_and_the_mount_api_still_starts() {
    // runc's "verify syscall compatibility after seccomp enforcement": without
    // no_new_privs the filter goes in before the runtime's last steps, which must cope.
    let outcome = run_foreground("seccomp-enosys", |b| {
        b.args(&["true"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(false);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    "names": ["close_range", "fsopen", "fsconfig", "fspick", "openat2", "open_tree", "move_mount", "mount_setattr"],
                    "action": "SCMP_ACT_ERRNO", "errnoRet": 38
                }]
            });
        });
    });
    outcome.success();
}

/// Just what busybox needs to run `true`, and execve: a default-deny profile of the kind
/// hardened managers write, without close_range, rt_sigaction or anything else berth uses
/// before it execs.
const ALLOWED: &[&str] = &[
    "execve", "exit", "exit_group", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
    "mmap", "munmap", "mprotect", "getuid", "geteuid", "getgid", "getegid", "getpid", "getppid", "rt_sigreturn",
    "readlink", "uname", "fstat", "newfstatat", "read", "write", "close", "ioctl", "getrandom",
];

#[test]
fn a_default_deny_profile_without_close_range_still_starts() {
    if berth_e2e::binaries::deliberate_difference("runc 1.1 opens its exec fifo after installing the filter, so the profile must allow openat") {
        return;
    }
    let outcome = run_foreground("seccomp-deny", |b| {
        b.args(&["true"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(true);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{ "names": ALLOWED, "action": "SCMP_ACT_ALLOW" }]
            });
        });
    });
    outcome.success();
    // The profile is in force: the same profile refuses what it does not list.
    let refused = run_foreground("seccomp-deny-mkdir", |b| {
        b.args(&["mkdir", "/tmp/x"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(true);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{ "names": ALLOWED, "action": "SCMP_ACT_ALLOW" }]
            });
        });
    });
    refused.failure();
}

// --- process (cwd.bats, exec.bats) ---

#[test]
fn a_cwd_only_root_can_enter_works_for_another_user() {
    // runc's "runc create can chdir if runc has access".
    let outcome = run_foreground("cwd-root-only", |b| {
        let root_home = b.rootfs().join("root");
        std::fs::create_dir_all(&root_home).unwrap();
        std::fs::set_permissions(&root_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        b.edit(|c| {
            c["process"]["cwd"] = json!("/root");
            c["process"]["user"] = json!({ "uid": 42, "gid": 42 });
            c["process"]["args"] = json!(["sh", "-c", "echo cwd=$(pwd) uid=$(id -u)"]);
        });
    });
    outcome.success();
    assert!(outcome.stdout.contains("cwd=/root uid=42"), "{outcome}");
}

#[test]
fn exec_user_zero_into_a_cwd_owned_by_another_user() {
    // runc's "runc exec --user with no access to cwd".
    let (runtime, mut bundle, id) = fixture("cwd-exec");
    let root_home = bundle.rootfs().join("root");
    std::fs::create_dir_all(&root_home).unwrap();
    std::os::unix::fs::chown(&root_home, Some(42), None).unwrap();
    std::fs::set_permissions(&root_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    bundle.edit(|c| {
        c["process"]["cwd"] = json!("/root");
        c["process"]["user"] = json!({ "uid": 42, "gid": 42 });
        c["process"]["args"] = json!(["sleep", "600"]);
    });
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    runtime.exec(["exec", "--user", "0", &id, "true"]).success();
}

#[test]
fn exec_process_json_without_user_runs_as_root() {
    let (runtime, _bundle, container) = sleeper("exec-nouser");
    container.run(&["--detach"]).success();
    let dir = TempDir::new("exec-nouser");
    let process = dir.path().join("process.json");
    let spec = json!({ "args": ["sh", "-c", "echo uid=$(id -u) gid=$(id -g)"], "cwd": "/", "env": ["PATH=/bin"] });
    std::fs::write(&process, spec.to_string()).unwrap();
    let outcome = runtime.exec(["exec", "--process", process.to_str().unwrap(), container.id()]);
    outcome.success();
    assert!(outcome.stdout.contains("uid=0 gid=0"), "{outcome}");
}
