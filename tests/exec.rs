//! `exec`: a second process in a running container, in its namespaces and cgroup, with
//! runc's flags or a containerd-style process.json.

use berth_e2e::{sleeper, TempDir};
use serde_json::json;

/// Run `exec` on a running sleeper container with `args` and return the outcome.
fn exec_in(tag: &str, args: &[&str]) -> (berth_e2e::Outcome, i32) {
    let (runtime, _bundle, container) = sleeper(tag);
    container.run(&["--detach"]).success();
    let init = container.pid();
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    let full: Vec<String> = full.iter().map(|a| a.replace("{id}", container.id())).collect();
    (runtime.exec(&full), init)
}

#[test]
fn exec_joins_the_init_namespaces_and_cgroup() {
    let script = "echo pid1=$(cat /proc/1/comm); echo host=$(hostname); \
                  echo mnt=$(readlink /proc/self/ns/mnt) net=$(readlink /proc/self/ns/net); \
                  echo initmnt=$(readlink /proc/1/ns/mnt) initnet=$(readlink /proc/1/ns/net); \
                  [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup; exit 7";
    let (outcome, _) = exec_in("exec-ns", &["{id}", "sh", "-c", script]);
    assert_eq!(outcome.code(), Some(7), "the exit code passes through:\n{outcome}");
    let out = &outcome.stdout;
    assert!(out.contains("pid1=sleep"), "not in the container's pid namespace:\n{out}");
    assert!(out.contains("host=berth"), "not in its uts namespace:\n{out}");
    let field = |name: &str| out.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap_or_default().to_owned();
    assert_eq!(field("mnt"), field("initmnt"), "{out}");
    assert_eq!(field("net"), field("initnet"), "{out}");
    assert!(out.contains("same-cgroup"), "not in the container's cgroup:\n{out}");
}

#[test]
fn exec_detached_writes_its_pid_and_runs_in_the_cgroup() {
    let (runtime, _bundle, container) = sleeper("exec-detach");
    container.run(&["--detach"]).success();
    let dir = TempDir::new("exec-pid");
    let pid_file = dir.path().join("exec.pid");
    runtime.exec(["exec", "--detach", "--pid-file", pid_file.to_str().unwrap(), container.id(), "sleep", "30"]).success();
    let pid: i32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("a pid");
    let listed = runtime.exec(["ps", "--format", "json", container.id()]);
    listed.success();
    let pids: Vec<i32> = serde_json::from_str(&listed.stdout).expect("ps --format json is a list");
    assert!(pids.contains(&pid), "exec'd pid {pid} not among the container's {pids:?}");
}

#[test]
fn exec_takes_a_process_json_as_containerd_passes_it() {
    let (runtime, _bundle, container) = sleeper("exec-process");
    container.run(&["--detach"]).success();
    let dir = TempDir::new("exec-process");
    let process = dir.path().join("process.json");
    let spec = json!({
        "args": ["sh", "-c", "echo cwd=$(pwd) var=$E2E_VAR uid=$(id -u) gid=$(id -g)"],
        "env": ["PATH=/bin:/usr/bin", "E2E_VAR=from-process-json"],
        "cwd": "/tmp",
        "user": { "uid": 1000, "gid": 1000 },
        "terminal": false
    });
    std::fs::write(&process, spec.to_string()).unwrap();
    let outcome = runtime.exec(["exec", "--process", process.to_str().unwrap(), container.id()]);
    outcome.success();
    assert!(outcome.stdout.contains("cwd=/tmp var=from-process-json uid=1000 gid=1000"), "{outcome}");
}

#[test]
fn exec_env_cwd_and_user_flags_override_the_container_process() {
    let (outcome, _) = exec_in(
        "exec-flags",
        &["--env", "E2E_FLAG=yes", "--cwd", "/etc", "--user", "65534:65534", "{id}", "sh", "-c", "echo $E2E_FLAG $(pwd) $(id -u):$(id -g)"],
    );
    outcome.success();
    assert_eq!(outcome.stdout.trim(), "yes /etc 65534:65534", "{outcome}");
}

#[test]
fn exec_of_a_missing_command_fails_and_leaves_no_process() {
    let (runtime, _bundle, container) = sleeper("exec-missing");
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["exec", container.id(), "no-such-exec-command"]);
    outcome.failure();
    outcome.one_line_error_naming(&["no-such-exec-command"]);
    let listed = runtime.exec(["ps", "--format", "json", container.id()]);
    let pids: Vec<i32> = serde_json::from_str(&listed.stdout).expect("ps --format json is a list");
    assert_eq!(pids, vec![container.pid()], "a failed exec left a process behind");
}

#[test]
fn exec_in_a_stopped_container_is_refused() {
    let (runtime, mut bundle, id) = berth_e2e::fixture("exec-stopped");
    bundle.args(&["true"]);
    let container = berth_e2e::Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    container.wait_for_status("stopped");
    let outcome = runtime.exec(["exec", &id, "true"]);
    outcome.failure();
    outcome.one_line_error_naming(&["stopped"]);
}

#[test]
fn exec_cgroup_puts_the_process_in_a_sub_cgroup() {
    let (runtime, _bundle, container) = sleeper("exec-subcg");
    container.run(&["--detach"]).success();
    // The container's pids cgroup (cgroupsPath unset: nested under ours), and a child of it.
    let pids_dir = berth_e2e::leftovers::cgroup_dirs(container.id())
        .into_iter()
        .find(|d| d.components().any(|c| c.as_os_str() == "pids"))
        .expect("this host has a v1 pids hierarchy");
    std::fs::create_dir(pids_dir.join("e2e-sub")).expect("make the sub-cgroup");
    let outcome = runtime.exec(["exec", "--cgroup", "pids:e2e-sub", container.id(), "cat", "/proc/self/cgroup"]);
    outcome.success();
    let line = outcome.stdout.lines().find(|l| l.split(':').nth(1) == Some("pids")).unwrap_or_default();
    assert!(line.ends_with(&format!("/{}/e2e-sub", container.id())), "{outcome}");
    // A sub-cgroup that does not exist is refused, naming it.
    let missing = runtime.exec(["exec", "--cgroup", "pids:no-such-sub", container.id(), "true"]);
    missing.failure();
    missing.one_line_error_naming(&["no-such-sub"]);
}
