//! containerd drives berth exactly as it drives runc: its runc shim (io.containerd.runc.v2)
//! calls the binary given by `ctr run --runc-binary` with `--root`, `--log`,
//! `--log-format json`, then create/start/state/exec/pause/resume/kill/delete.
//!
//! Each test starts its own containerd (Debian's, on a private socket, with its own root,
//! state and namespace) and ends it by pid, unmounting whatever it left mounted.

use berth_e2e::binaries::runtime_under_test;
use berth_e2e::poll::until;
use berth_e2e::TempDir;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A private containerd with the example busybox image imported.
struct Containerd {
    daemon: Child,
    dir: TempDir,
    namespace: String,
}

impl Containerd {
    fn start(tag: &str) -> Containerd {
        let dir = TempDir::new(tag);
        let d = dir.path().to_owned();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n[grpc]\n  address = \"{sock}\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_cgroup = true\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd is installed (tests/run-all.sh installs it)");
        // One namespace per test: containerd puts cgroups at /<namespace>/<id>, and berth, like
        // runc, removes only the directories it made, so tests sharing a parent would race.
        let namespace = format!("berth-e2e-{tag}-{}", std::process::id());
        let me = Containerd { daemon, dir, namespace };
        until(Duration::from_secs(20), || me.ctr(&["version"]).status.success().then_some(()))
            .unwrap_or_else(|| panic!("containerd did not come up; see {}", me.dir.path().join("containerd.log").display()));
        let archive = berth_e2e::images::busybox_docker_archive(me.dir.path());
        let imported = me.ctr(&["image", "import", archive.to_str().unwrap()]);
        assert!(imported.status.success(), "ctr image import: {}", String::from_utf8_lossy(&imported.stderr));
        me
    }

    fn ctr(&self, args: &[&str]) -> Output {
        let sock = self.dir.path().join("containerd.sock");
        Command::new("timeout")
            .args(["60", "ctr", "--address"])
            .arg(&sock)
            .args(["-n", &self.namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// `ctr run` with berth as the shim's runtime binary.
    fn run(&self, flags: &[&str], id: &str, command: &[&str]) -> Output {
        let berth = runtime_under_test();
        let mut args = vec!["run", "--runc-binary", berth.to_str().unwrap()];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox:latest", id]);
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["task", "ls"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find(|l| l.split_whitespace().next() == Some(id)).and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // End our containerd (by pid), then anything of ours it left mounted.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.daemon.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = self.daemon.wait();
        for mount in berth_e2e::inspect::host_mounts_under(self.dir.path()).into_iter().rev() {
            let _ = berth_e2e::leftovers::detach(&mount);
        }
        // The namespace's parent cgroup, which runc leaves behind; it is ours and empty.
        for dir in cgroup_dirs_named(&self.namespace) {
            let _ = std::fs::remove_dir(dir);
        }
    }
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
    let left = cgroup_dirs_named(&ctd.namespace);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let candidate = hierarchy.path().join(name);
        if candidate.is_dir() {
            found.push(candidate);
        }
    }
    found
}

#[test]
fn ctr_run_gets_the_output_and_exit_code() {
    let ctd = Containerd::start("ctd-run");
    let out = ctd.run(&["--rm"], "ctd-run-1", &["sh", "-c", "echo from-berth-under-containerd; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("from-berth-under-containerd"));
    // containerd names the cgroup /<namespace>/<id>; berth removes it (and the parent it made).
    assert_no_cgroups_left(&ctd);
}

#[test]
fn ctr_task_exec_pause_resume_kill_and_delete() {
    let ctd = Containerd::start("ctd-task");
    let id = "ctd-task-1";
    let out = ctd.run(&["-d"], id, &["sleep", "600"]);
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
