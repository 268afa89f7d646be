//! The container lifecycle through runc's command line: create, start,
//! state, kill, delete, run, list, and what the state JSON says at each step.

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::leftovers::{assert_nothing_left, cgroup_dirs};
use berth_e2e::{fixture, sleeper, Container};
use serde_json::json;

/// A script that exits with the number of the signal it caught, once its
/// handlers are installed (so `wait_for_handler` can tell when it is ready).
const TRAP_SIGNALS: &str = "trap 'exit 10' USR1; trap 'exit 12' USR2; trap 'exit 15' TERM; \
                            sleep 600 & wait";

#[test]
fn lifecycle_reports_state_at_each_step() {
    let (runtime, mut bundle, id) = fixture("lifecycle");
    bundle.script(TRAP_SIGNALS).edit(|c| {
        c["annotations"] = json!({ "org.berth.test": "lifecycle", "empty": "" });
    });
    let container = Container::new(&runtime, &bundle, &id);

    container.create(&[]).success();
    let created = container.state();
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["status"], "created", "{created}");
    assert!(
        created["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{created}"
    );
    let pid = container.pid();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "init {pid} is not alive"
    );
    assert_eq!(created["bundle"], bundle.path().to_str().unwrap());
    assert_eq!(created["rootfs"], bundle.rootfs().to_str().unwrap());
    assert_eq!(
        created["annotations"],
        json!({ "org.berth.test": "lifecycle", "empty": "" }),
        "{created}"
    );
    // runc writes RFC 3339 with nanoseconds in UTC, e.g. 2026-11-27T20:48:19.433413581Z.
    let stamp = created["created"].as_str().expect("created is a string");
    assert!(
        stamp.len() >= 20 && &stamp[4..5] == "-" && &stamp[10..11] == "T",
        "{stamp}"
    );
    assert!(created["owner"].is_string(), "owner missing: {created}");

    container.start().success();
    let running = container.state();
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["pid"], pid, "start must not change the pid");
    assert_eq!(running["created"], created["created"]);

    container.wait_for_handler(libc::SIGTERM);
    container.kill(&[], None).success();
    let stopped = container.wait_for_status("stopped");
    assert_eq!(stopped["id"], id.as_str());
    assert_eq!(stopped["bundle"], created["bundle"]);

    container.delete(&[]).success();
    let gone = runtime.exec(["state", &id]);
    gone.failure();
    if !deliberate_difference("runc's `container does not exist` does not name the id") {
        assert!(
            gone.stderr.contains(&id),
            "error should name the id:\n{gone}"
        );
    }
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn run_foreground_passes_exit_code_through() {
    let outcome = berth_e2e::run_foreground("exitcode", |b| {
        b.script("exit 42");
    });
    assert_eq!(outcome.code(), Some(42), "{outcome}");
}

#[test]
fn run_foreground_exits_128_plus_signal_when_killed() {
    let (_runtime, _bundle, container) = sleeper("run-signal");
    let outcome = std::thread::scope(|scope| {
        let run = scope.spawn(|| container.run(&[]));
        container.wait_for_status("running");
        container.kill(&[], Some("KILL")).success();
        run.join().expect("run thread")
    });
    assert_eq!(outcome.code(), Some(128 + libc::SIGKILL), "{outcome}");
}

#[test]
fn run_foreground_removes_the_container_when_it_exits() {
    let (runtime, mut bundle, id) = fixture("run-cleanup");
    bundle.script("echo hello from $$");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout, "hello from 1\n");
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn run_detached_returns_while_the_container_runs() {
    let (runtime, bundle, container) = sleeper("run-detach");
    let id = container.id().to_owned();
    container.run(&["-d"]).success();
    let state = container.state();
    assert_eq!(state["status"], "running", "{state}");
    container.kill(&[], Some("KILL")).success();
    container.wait_for_status("stopped");
    container.delete(&[]).success();
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn run_detach_long_flag_is_accepted() {
    let (runtime, mut bundle, id) = fixture("run-detach-long");
    bundle.args(&["true"]);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    container.wait_for_status("stopped");
}

#[test]
fn pid_file_holds_the_init_pid() {
    let (runtime, _bundle, container) = sleeper("pidfile");
    let pid_file = runtime.scratch().join("init.pid");
    container
        .create(&["--pid-file", pid_file.to_str().unwrap()])
        .success();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written by create");
    assert_eq!(
        written.trim().parse::<i32>().ok(),
        Some(container.pid()),
        "{written:?}"
    );

    let (runtime2, _bundle2, detached) = sleeper("pidfile-run");
    let pid_file2 = runtime2.scratch().join("run.pid");
    detached
        .run(&["-d", "--pid-file", pid_file2.to_str().unwrap()])
        .success();
    let written = std::fs::read_to_string(&pid_file2).expect("pid file written by run -d");
    assert_eq!(
        written.trim().parse::<i32>().ok(),
        Some(detached.pid()),
        "{written:?}"
    );
}

#[test]
fn list_shows_containers_as_table_quiet_and_json() {
    let (runtime, mut bundle, id_a) = fixture("list");
    bundle.args(&["sleep", "600"]);
    let id_b = berth_e2e::unique_id("list");
    let a = Container::new(&runtime, &bundle, &id_a);
    let b = Container::new(&runtime, &bundle, &id_b);
    a.create(&[]).success();
    b.create(&[]).success();
    b.start().success();

    let table = runtime.exec(["list"]);
    table.success();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{id}:\n{table}"))
    };
    assert_eq!(row(&id_a)[1], a.pid().to_string());
    assert_eq!(row(&id_a)[2], "created");
    assert_eq!(row(&id_b)[2], "running");
    assert_eq!(row(&id_a)[3], bundle.path().to_str().unwrap());

    let quiet = runtime.exec(["list", "-q"]);
    quiet.success();
    let mut ids: Vec<&str> = quiet.stdout.lines().collect();
    ids.sort();
    let mut expected = vec![id_a.as_str(), id_b.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "{quiet}");

    let json_out = runtime.exec(["list", "--format", "json"]);
    json_out.success();
    let list: serde_json::Value = serde_json::from_str(&json_out.stdout).expect("list json");
    let entries = list.as_array().expect("list json is an array");
    assert_eq!(entries.len(), 2, "{json_out}");
    let entry_b = entries
        .iter()
        .find(|e| e["id"] == id_b.as_str())
        .expect("b listed");
    assert_eq!(entry_b["status"], "running");
    assert_eq!(entry_b["pid"], b.pid());
    assert_eq!(entry_b["bundle"], bundle.path().to_str().unwrap());
}

#[test]
fn list_of_an_empty_root_prints_only_the_header() {
    let runtime = berth_e2e::Runtime::under_test();
    let table = runtime.exec(["list"]);
    table.success();
    assert_eq!(table.stdout.lines().count(), 1, "{table}");
    let json_out = runtime.exec(["list", "--format", "json"]);
    json_out.success();
    // runc prints `null` for no containers; an empty array means the same.
    let list: serde_json::Value = serde_json::from_str(&json_out.stdout).expect("json");
    assert!(list.is_null() || list == json!([]), "{json_out}");
}

#[test]
fn spec_writes_the_default_config() {
    let runtime = berth_e2e::Runtime::under_test();
    let dir = berth_e2e::TempDir::new("spec");
    let mut command = runtime.command(["spec"]);
    command.current_dir(dir.path());
    runtime.exec_command(command).success();
    let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config.json");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("spec is JSON");
    assert!(
        spec["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{spec}"
    );
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["process"]["terminal"], true);
    assert_eq!(spec["root"], json!({ "path": "rootfs", "readonly": true }));
    let mut namespaces: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    namespaces.sort();
    // runc 1.2's default adds a cgroup namespace to 1.1's five.
    namespaces.retain(|n| *n != "cgroup");
    // runc 1.1 leaves out the cgroup namespace; runc 1.2 and berth include it.
    namespaces.retain(|n| *n != "cgroup");
    assert_eq!(namespaces, ["ipc", "mount", "network", "pid", "uts"]);
    let destinations: Vec<&str> = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    for wanted in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ] {
        assert!(
            destinations.contains(&wanted),
            "{wanted} missing from {destinations:?}"
        );
    }

    // A second `spec` refuses to overwrite; `--bundle` writes elsewhere.
    let mut again = runtime.command(["spec"]);
    again.current_dir(dir.path());
    runtime.exec_command(again).failure();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    runtime
        .exec(["spec", "--bundle", other.to_str().unwrap()])
        .success();
    assert!(other.join("config.json").is_file());
}

#[test]
fn version_names_the_runtime_and_spec_version() {
    let runtime = berth_e2e::Runtime::under_test();
    let outcome = runtime.exec(["--version"]);
    outcome.success();
    let first = outcome.stdout.lines().next().unwrap_or_default();
    assert!(first.contains("version"), "{outcome}");
    assert!(
        outcome.stdout.lines().any(|l| l.starts_with("spec: 1.")),
        "podman and containerd read the spec line:\n{outcome}"
    );
}

/// Runs TRAP_SIGNALS in the foreground, sends `kill ID <signal>` once the
/// traps are set, and returns the exit code (the caught signal's number).
fn exit_code_after_kill(tag: &str, signal: Option<&str>) -> i32 {
    let (runtime, mut bundle, id) = fixture(tag);
    bundle.script(TRAP_SIGNALS);
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = std::thread::scope(|scope| {
        let run = scope.spawn(|| container.run(&[]));
        // `state` answers from the first step of create on (status "creating"): wait until
        // the program runs.
        container.wait_for_status("running");
        container.wait_for_handler(libc::SIGUSR2);
        container.kill(&[], signal).success();
        run.join().expect("run thread")
    });
    outcome
        .code()
        .unwrap_or_else(|| panic!("run was killed:\n{outcome}"))
}

#[test]
fn kill_defaults_to_sigterm() {
    assert_eq!(exit_code_after_kill("kill-default", None), 15);
}

#[test]
fn kill_takes_a_signal_name() {
    assert_eq!(exit_code_after_kill("kill-name", Some("USR1")), 10);
}

#[test]
fn kill_takes_a_sig_prefixed_name() {
    assert_eq!(exit_code_after_kill("kill-signame", Some("SIGUSR2")), 12);
}

#[test]
fn kill_takes_a_signal_number() {
    assert_eq!(exit_code_after_kill("kill-number", Some("10")), 10);
}

#[test]
fn kill_rejects_an_unknown_signal() {
    let (_runtime, _bundle, container) = sleeper("kill-bad");
    container.create(&[]).success();
    let outcome = container.kill(&[], Some("SIGNOPE"));
    outcome.failure();
    assert!(
        outcome.stderr.contains("SIGNOPE") || outcome.stderr.contains("signal"),
        "{outcome}"
    );
    assert_eq!(container.state()["status"], "created");
}

#[test]
fn kill_all_reaches_every_process_of_the_container() {
    let (runtime, mut bundle, id) = fixture("kill-all");
    // Several processes: a shell and two background sleeps.
    bundle.script("sleep 600 & sleep 600 & wait");
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["-d"]).success();
    let procs_file = cgroup_dirs(&id)
        .into_iter()
        .map(|dir| dir.join("cgroup.procs"))
        .find(|file| file.exists())
        .expect("container cgroup");
    let count = || {
        std::fs::read_to_string(&procs_file)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        (count() == 3).then_some(())
    })
    .unwrap_or_else(|| panic!("expected 3 processes in {}", procs_file.display()));
    container.kill(&["--all"], Some("KILL")).success();
    container.wait_for_status("stopped");
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        (count() == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("processes left in {}", procs_file.display()));
}

#[test]
fn delete_of_a_running_container_fails_and_force_kills_it() {
    let (runtime, bundle, container) = sleeper("delete-running");
    let id = container.id().to_owned();
    container.run(&["-d"]).success();
    let pid = container.pid();
    container.delete(&[]).failure();
    assert_eq!(container.state()["status"], "running");
    container.delete(&["--force"]).success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        berth_e2e::inspect::is_gone_or_zombie(pid).then_some(())
    })
    .unwrap_or_else(|| panic!("init {pid} survived delete --force"));
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn delete_force_of_a_created_container_cleans_up() {
    let (runtime, bundle, container) = sleeper("delete-created");
    let id = container.id().to_owned();
    container.create(&[]).success();
    container.delete(&["--force"]).success();
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn delete_force_of_an_unknown_container_exits_zero() {
    let runtime = berth_e2e::Runtime::under_test();
    let outcome = runtime.exec(["delete", "--force", "e2e-never-created"]);
    outcome.success();
}

#[test]
fn kill_9_of_a_stopped_container_is_an_error() {
    let (runtime, mut bundle, id) = fixture("kill-stopped");
    bundle.args(&["true"]);
    let container = Container::new(&runtime, &bundle, &id);
    container.create(&[]).success();
    container.start().success();
    container.wait_for_status("stopped");
    container.kill(&[], Some("9")).failure();
    // Still there to be deleted.
    container.delete(&[]).success();
}

#[test]
fn errors_go_to_the_log_file_as_json_records_and_to_stderr() {
    let runtime = berth_e2e::Runtime::under_test();
    let log = runtime.scratch().join("runtime.log");
    let log_arg = log.to_str().unwrap();
    let outcome = runtime.exec([
        "--log",
        log_arg,
        "--log-format",
        "json",
        "state",
        "e2e-missing",
    ]);
    outcome.failure();
    let text = std::fs::read_to_string(&log).expect("log file written");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let error = records
        .iter()
        .find(|r| r["level"] == "error")
        .unwrap_or_else(|| panic!("no error record in {text}"));
    let msg = error["msg"].as_str().expect("msg is a string");
    assert!(
        msg.contains("e2e-missing") || msg.contains("not exist"),
        "{error}"
    );
    assert!(
        error["time"].as_str().is_some_and(|t| t.contains('T')),
        "{error}"
    );
    assert!(
        outcome.stderr.contains(msg),
        "stderr should carry the message:\n{outcome}"
    );
}

#[test]
fn ids_with_slash_or_dotdot_are_refused() {
    let (runtime, mut bundle, _) = fixture("bad-id");
    bundle.args(&["true"]);
    for bad in [
        "a/b",
        "..",
        "../escape",
        ".",
        "with space",
        "semi;colon",
        "new\nline",
        "",
    ] {
        let container = Container::new(&runtime, &bundle, bad);
        container.create(&[]).failure();
    }
    let left: Vec<_> = std::fs::read_dir(runtime.root()).unwrap().collect();
    assert!(left.is_empty(), "state root not empty: {left:?}");
    assert!(!runtime.root().parent().unwrap().join("escape").exists());
}

#[test]
fn a_duplicate_id_is_refused() {
    let (runtime, mut bundle, id) = fixture("dup-id");
    bundle.args(&["sleep", "600"]);
    let first = Container::new(&runtime, &bundle, &id);
    first.create(&[]).success();
    let pid = first.pid();
    let outcome = first.create(&[]);
    outcome.failure();
    assert!(
        outcome.stderr.contains(&id) || outcome.stderr.contains("exists"),
        "{outcome}"
    );
    let state = first.state();
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
}

#[test]
fn a_shim_style_lifecycle_with_log_flags_on_every_call() {
    // containerd's runc shim passes --root, --log and --log-format json on
    // every call; none of them may disturb the command itself.
    let (runtime, mut bundle, id) = fixture("shim-flags");
    bundle.args(&["sleep", "600"]);
    let log = runtime.scratch().join("shim.log");
    let log = log.to_str().unwrap();
    let bundle_dir = bundle.path().to_str().unwrap();
    let globals = ["--log", log, "--log-format", "json"];
    let call = |args: &[&str]| runtime.exec(globals.iter().chain(args));
    let _guard = Container::new(&runtime, &bundle, &id);
    call(&["create", "--bundle", bundle_dir, &id]).success();
    call(&["start", &id]).success();
    let state: serde_json::Value =
        serde_json::from_str(&call(&["state", &id]).success().stdout).unwrap();
    assert_eq!(state["status"], "running");
    call(&["kill", &id, "9"]).success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        let out = call(&["state", &id]);
        out.stdout.contains("\"stopped\"").then_some(())
    })
    .expect("never stopped");
    call(&["delete", &id]).success();
    call(&["delete", "--force", &id]).success();
    // Whatever was logged is JSON, one record a line.
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[test]
fn debug_and_systemd_cgroup_flags_are_accepted() {
    let runtime = berth_e2e::Runtime::under_test();
    runtime.exec(["--debug", "list"]).success();
    runtime.exec(["--systemd-cgroup", "list", "-q"]).success();
    let log = runtime.scratch().join("text.log");
    runtime
        .exec([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "text",
            "list",
        ])
        .success();
}

#[test]
fn start_of_a_running_container_fails() {
    let (_runtime, _bundle, container) = sleeper("start-twice");
    container.create(&[]).success();
    container.start().success();
    container.start().failure();
    assert_eq!(container.state()["status"], "running");
}

#[test]
fn create_leaves_the_process_waiting_until_start() {
    let (runtime, mut bundle, id) = fixture("create-waits");
    let out = berth_e2e::TempDir::new("create-waits-out");
    bundle
        .add_mount(json!({ "destination": "/out", "type": "bind", "source": out.path(), "options": ["bind"] }))
        .script("echo ran > /out/marker");
    let marker = out.path().join("marker");
    let container = Container::new(&runtime, &bundle, &id);
    container.create(&[]).success();
    // create has returned with everything set up, and the process has not run.
    assert!(!marker.exists(), "the process ran before start");
    assert_eq!(container.state()["status"], "created");
    container.start().success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        marker.exists().then_some(())
    })
    .expect("the process never ran after start");
    container.wait_for_status("stopped");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
}

#[test]
fn bundle_defaults_to_the_working_directory_and_is_stored_absolute() {
    let (runtime, mut bundle, id) = fixture("bundle-cwd");
    bundle.args(&["sleep", "600"]);
    let first = Container::new(&runtime, &bundle, &id);
    // No --bundle: the current directory is the bundle.
    let mut command = runtime.command(["create", &id]);
    command.current_dir(bundle.path());
    runtime.exec_command(command).success();
    let state = first.state();
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap());

    // A relative --bundle is made absolute too.
    let id2 = berth_e2e::unique_id("bundle-rel");
    let second = Container::new(&runtime, &bundle, &id2);
    let parent = bundle.path().parent().unwrap();
    let relative = bundle.path().file_name().unwrap();
    let mut command = runtime.command([
        "create".as_ref(),
        "--bundle".as_ref(),
        relative,
        id2.as_ref(),
    ]);
    command.current_dir(parent);
    runtime.exec_command(command).success();
    assert_eq!(second.state()["bundle"], bundle.path().to_str().unwrap());
}

#[test]
fn kill_of_a_created_container_stops_it() {
    let (runtime, bundle, container) = sleeper("kill-created");
    container.create(&[]).success();
    let pid = container.pid();
    container.kill(&[], Some("KILL")).success();
    container.wait_for_status("stopped");
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        berth_e2e::inspect::is_gone_or_zombie(pid).then_some(())
    })
    .unwrap_or_else(|| panic!("init {pid} survived KILL"));
    container.delete(&[]).success();
    assert_nothing_left(&runtime, container.id(), bundle.path(), container.id());
}

#[test]
fn delete_of_a_created_container_needs_no_force() {
    let (runtime, bundle, container) = sleeper("delete-created-plain");
    container.create(&[]).success();
    let pid = container.pid();
    container.delete(&[]).success();
    berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        berth_e2e::inspect::is_gone_or_zombie(pid).then_some(())
    })
    .unwrap_or_else(|| panic!("init {pid} survived delete"));
    assert_nothing_left(&runtime, container.id(), bundle.path(), container.id());
}

#[test]
fn run_in_the_foreground_forwards_signals_to_the_container() {
    let (runtime, mut bundle, id) = fixture("run-forwards");
    bundle.script(TRAP_SIGNALS);
    let container = Container::new(&runtime, &bundle, &id);
    let mut run = runtime
        .command(["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    container.wait_for_status("running");
    container.wait_for_handler(libc::SIGUSR1);
    // SAFETY: kill(2) with our own child's pid and a valid signal number.
    let rc = unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGUSR1) };
    assert_eq!(
        rc,
        0,
        "kill the runtime: {}",
        std::io::Error::last_os_error()
    );
    let status = berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || run.try_wait().unwrap())
        .unwrap_or_else(|| {
            let _ = run.kill();
            let _ = run.wait();
            panic!("run did not exit after forwarding SIGUSR1")
        });
    assert_eq!(
        status.code(),
        Some(10),
        "the container should have caught USR1: {status}"
    );
}

#[test]
fn state_notices_an_init_that_died_on_its_own() {
    let (runtime, bundle, container) = sleeper("died-alone");
    container.run(&["-d"]).success();
    let pid = container.pid();
    // SAFETY: kill(2) with a valid signal; the pid is this test's container init.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
    container.wait_for_status("stopped");
    container.delete(&[]).success();
    assert_nothing_left(&runtime, container.id(), bundle.path(), container.id());
}
