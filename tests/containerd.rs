//! containerd drives berth exactly as it drives runc: its runc shim (io.containerd.runc.v2)
//! calls the binary given by `ctr run --runc-binary` with `--root`, `--log`,
//! `--log-format json`, then create/start/state/exec/pause/resume/kill/delete.
//!
//! Each test starts its own containerd (Debian's, on a private socket, with its own root,
//! state and namespace) and ends it by pid, unmounting whatever it left mounted.

use berth_e2e::binaries::runtime_under_test;
use berth_e2e::containerd::Containerd;
use berth_e2e::poll::until;
use std::process::Output;
use std::time::Duration;

/// A private containerd (tests/support/containerd.rs) with the example busybox image imported.
fn start(tag: &str) -> Containerd {
    let ctd = Containerd::start(tag, "[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_cgroup = true\n");
    ctd.import_busybox();
    ctd
}

/// `ctr run` with berth as the runc shim's runtime binary.
fn run(ctd: &Containerd, flags: &[&str], id: &str, command: &[&str]) -> Output {
    let berth = runtime_under_test();
    let mut args = vec!["run", "--runc-binary", berth.to_str().unwrap()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox:latest", id]);
    args.extend_from_slice(command);
    ctd.ctr(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Cgroups left under /<namespace> after the containers are gone: none for berth, which
/// removes the parent it made; runc leaves it.
#[track_caller]
fn assert_no_cgroups_left(ctd: &Containerd) {
    if berth_e2e::binaries::deliberate_difference("runc leaves the parent cgroup /<namespace> it made") {
        return;
    }
    let left = ctd.cgroups();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

#[test]
fn ctr_run_gets_the_output_and_exit_code() {
    let ctd = start("ctd-run");
    let out = run(&ctd, &["--rm"], "ctd-run-1", &["sh", "-c", "echo from-berth-under-containerd; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("from-berth-under-containerd"));
    // containerd names the cgroup /<namespace>/<id>; berth removes it (and the parent it made).
    assert_no_cgroups_left(&ctd);
}

#[test]
fn ctr_task_exec_pause_resume_kill_and_delete() {
    let ctd = start("ctd-task");
    let id = "ctd-task-1";
    let out = run(&ctd, &["-d"], id, &["sleep", "600"]);
    assert!(out.status.success(), "ctr run -d: {}", text(&out.stderr));
    assert_eq!(ctd.task_status(id).as_deref(), Some("RUNNING"));

    let exec = ctd.ctr(&["task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-ok; exit 3"]);
    assert_eq!(exec.status.code(), Some(3), "{}", text(&exec.stderr));
    assert!(text(&exec.stdout).contains("exec-ok"));

    assert!(ctd.ctr(&["task", "pause", id]).status.success());
    assert_eq!(ctd.task_status(id).as_deref(), Some("PAUSED"));
    assert!(ctd.ctr(&["task", "resume", id]).status.success());
    assert_eq!(ctd.task_status(id).as_deref(), Some("RUNNING"));

    assert!(ctd.ctr(&["task", "kill", "-s", "KILL", id]).status.success());
    until(Duration::from_secs(10), || (ctd.task_status(id).as_deref() == Some("STOPPED")).then_some(()))
        .expect("the task never stopped after SIGKILL");
    let deleted = ctd.ctr(&["task", "delete", id]);
    assert!(deleted.status.success(), "task delete: {}", text(&deleted.stderr));
    assert!(ctd.ctr(&["container", "rm", id]).status.success());
    assert_no_cgroups_left(&ctd);
}
