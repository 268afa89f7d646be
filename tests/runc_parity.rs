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

// --- verbs (kill.bats, ps.bats, events.bats, cgroups.bats, run.bats, debug.bats) ---

/// The container's cgroup pids, from `ps --format json`.
fn pids(container: &Container) -> Vec<i32> {
    let outcome = container.runtime().exec(["ps", "--format", "json", container.id()]);
    outcome.success();
    // runc prints null for no processes.
    let list: Option<Vec<i32>> = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| panic!("ps --format json ({e}):\n{outcome}"));
    list.unwrap_or_default()
}

#[test]
fn kill_all_on_a_stopped_container_signals_what_is_left_and_succeeds() {
    // Without a pid namespace of its own, the init's death leaves its child in the cgroup.
    let (runtime, mut bundle, id) = fixture("kill-all-stopped");
    bundle.without_namespace("pid");
    bundle.script("sleep 600 & exec sleep 601");
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    container.kill(&[], Some("0")).success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || (pids(&container).len() == 2).then_some(()))
        .expect("the init's child never showed up in the cgroup");
    // The init dies on its own (runtime kill KILL would take the whole cgroup with it).
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(container.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
    container.wait_for_status("stopped");
    assert_eq!(pids(&container).len(), 1, "the init's child should be left");
    container.kill(&[], Some("0")).failure();
    container.kill(&["--all"], Some("0")).success();
    container.kill(&["--all"], Some("KILL")).success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || pids(&container).is_empty().then_some(()))
        .expect("kill --all left a process in the cgroup");
    // ps on a stopped container lists what is left: nothing.
    runtime.exec(["ps", container.id()]).success();
}

#[test]
fn exec_into_a_paused_container_fails_with_255_unless_told_to_wait() {
    // runc's "runc exec into a paused container" and "runc exec --ignore-paused".
    let (runtime, _bundle, container) = sleeper("exec-paused");
    container.run(&["--detach"]).success();
    runtime.exec(["pause", container.id()]).success();
    let refused = runtime.exec(["exec", container.id(), "echo", "ok"]);
    assert_eq!(refused.code(), Some(255), "{refused}");
    assert!(refused.stderr.contains("cannot exec in a paused container"), "{refused}");
    let root = runtime.clone();
    let id = container.id().to_owned();
    let resumer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        root.exec(["resume", &id]).success();
    });
    let waited = runtime.exec(["exec", "--ignore-paused", container.id(), "echo", "ok"]);
    resumer.join().expect("resume");
    waited.success();
    assert_eq!(waited.stdout.trim(), "ok", "{waited}");
}

#[test]
fn exec_of_a_missing_program_exits_255() {
    let (runtime, _bundle, container) = sleeper("exec-missing");
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["exec", container.id(), "no-such-program"]);
    assert_eq!(outcome.code(), Some(255), "{outcome}");
    let outcome = runtime.exec(["exec", container.id(), "sh", "-c", "exit 7"]);
    assert_eq!(outcome.code(), Some(7), "the process's own code passes through:\n{outcome}");
}

#[test]
fn run_keep_leaves_the_stopped_container_for_delete() {
    let (runtime, mut bundle, id) = fixture("run-keep");
    bundle.script("exit 5");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&["--keep"]);
    assert_eq!(outcome.code(), Some(5), "{outcome}");
    assert_eq!(container.state()["status"], "stopped");
    container.delete(&[]).success();
    assert!(!runtime.root().join(&id).exists(), "delete left the state behind");
}

#[test]
fn a_created_container_can_be_paused_and_resumed() {
    let (runtime, _bundle, container) = sleeper("pause-created");
    container.create(&[]).success();
    runtime.exec(["pause", container.id()]).success();
    assert_eq!(container.state()["status"], "paused");
    runtime.exec(["resume", container.id()]).success();
    assert_eq!(container.state()["status"], "created");
}

#[test]
fn events_stats_print_runcs_key_order() {
    let (runtime, _bundle, container) = sleeper("events-order");
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["events", "--stats", container.id()]);
    outcome.success();
    let prefix = format!("{{\"type\":\"stats\",\"id\":\"{}\",\"data\":", container.id());
    assert!(outcome.stdout.starts_with(&prefix), "{outcome}");
}

#[test]
fn debug_writes_debug_records_to_the_log() {
    // runc's "global --debug to --log --log-format 'json'".
    let (runtime, mut bundle, id) = fixture("debug-log");
    bundle.args(&["true"]);
    let log = runtime.scratch().join("debug.log");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = runtime.exec([
        "--debug", "--log", log.to_str().unwrap(), "--log-format", "json",
        "run", "--bundle", bundle.path().to_str().unwrap(), container.id(),
    ]);
    outcome.success();
    let text = std::fs::read_to_string(&log).expect("the log file");
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(records.iter().any(|r| r["level"] == "debug"), "no debug record in:\n{text}");
}

// --- AppArmor and SELinux (apparmor in runc's helpers, selinux.bats) ---

/// Is this LSM active on the host? (AppArmor: the module says Y; SELinux: selinuxfs.)
fn host_has(lsm: &str) -> bool {
    match lsm {
        "apparmor" => std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y')),
        _ => std::path::Path::new("/sys/fs/selinux/enforce").exists(),
    }
}

#[test]
fn lsm_labels_are_applied_or_refused_never_ignored() {
    let cases = [
        ("apparmor", "process.apparmorProfile", json!({ "process": { "apparmorProfile": "unconfined" } })),
        ("selinux", "process.selinuxLabel", json!({ "process": { "selinuxLabel": "system_u:system_r:container_t:s0" } })),
        ("selinux", "linux.mountLabel", json!({ "linux": { "mountLabel": "system_u:object_r:container_file_t:s0" } })),
    ];
    for (lsm, field, change) in cases {
        let (runtime, mut bundle, id) = fixture("lsm");
        bundle.args(&["true"]);
        bundle.edit(|c| {
            for (section, values) in change.as_object().unwrap() {
                for (key, value) in values.as_object().unwrap() {
                    c[section][key] = value.clone();
                }
            }
        });
        let container = Container::new(&runtime, &bundle, &id);
        let outcome = container.run(&[]);
        if host_has(lsm) {
            outcome.success();
            continue;
        }
        if field == "linux.mountLabel" && berth_e2e::binaries::deliberate_difference("runc ignores linux.mountLabel without SELinux") {
            continue;
        }
        outcome.failure();
        if !berth_e2e::binaries::deliberate_difference("runc's message does not name the field") {
            outcome.one_line_error_naming(&[field]);
        }
        assert!(!runtime.root().join(&id).exists(), "{field}: state left behind");
    }
}

#[test]
fn kill_9_without_a_pid_namespace_kills_every_process_of_the_container() {
    // runc's "kill KILL [host pidns]" and "[host pidns + init gone]" (runc 1.2).
    if berth_e2e::binaries::deliberate_difference("runc 1.1 signals only the init, leaving the others running") {
        return;
    }
    for init_gone in [false, true] {
        let (runtime, mut bundle, id) = fixture("kill-hostpid");
        bundle.without_namespace("pid");
        bundle.args(&["sleep", "600"]);
        let container = Container::new(&runtime, &bundle, &id);
        container.run(&["--detach"]).success();
        for _ in 0..3 {
            runtime.exec(["exec", "-d", &id, "sleep", "600"]).success();
        }
        berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || (pids(&container).len() == 4).then_some(()))
            .expect("the exec'd processes never showed up");
        if init_gone {
            let init = container.pid();
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL).unwrap();
            container.wait_for_status("stopped");
        }
        container.kill(&[], Some("KILL")).success();
        berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || pids(&container).is_empty().then_some(()))
            .unwrap_or_else(|| panic!("processes left after kill KILL (init gone first: {init_gone})"));
    }
}
