//! Killed part-way: `create` SIGKILLed at any point must be recoverable. Afterwards `list`
//! shows the half-made container, `state` answers, `delete --force` removes everything it
//! made (processes, cgroups, mounts, state directory) and the same `create` then succeeds.
//!
//! The points, each on a fresh container:
//! - fractions (1/10 .. 9/10) of the time a create takes here;
//! - berth only: at each syscall of its parent's recipe (every mkdir, the exec fifo's mknod,
//!   the clone3, the cgroup.procs, device-rule and sync-socket writes, each write of
//!   state.json), by `strace -e inject=SYSCALL:signal=KILL:when=N` on the parent alone; the
//!   points come from a traced dry run, so they follow the recipe as it changes;
//! - while a createRuntime and a createContainer hook runs;
//! - with the init held (strace `delay_enter`) at a mount, at pivot_root and at its last chdir.
//!
//! Each test prints `recovered N/M` for its points. Against runc the counts are reported but
//! not asserted (runc leaves state behind at most of them).
//!
//!     cargo test -p berth-e2e --test kill_points -- --nocapture --test-threads 1
//!     BERTH_RUNTIME=/usr/sbin/runc cargo test -p berth-e2e --test kill_points -- --nocapture --test-threads 1

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::leftovers::{cgroup_dirs, processes_in};
use berth_e2e::poll::until;
use berth_e2e::{unique_id, Bundle, Runtime};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that marks every process the runtime under test starts before
/// it execs the container's program (berth's init is a copy of berth until then).
const MARKER: &str = "BERTH_E2E_KILL_POINT";

/// Where and how the runtime is killed.
#[derive(Debug, Clone)]
enum How {
    /// After `tenths`/10 of a typical create, killing `verb` (create, or a foreground run).
    Fraction { verb: &'static str, tenths: u32, typical: Duration },
    /// At the entry of the `nth` `syscall` of the runtime's own process (not its children).
    Syscall { syscall: String, nth: usize },
    /// While a hook of `stage` runs.
    Hook { stage: &'static str },
    /// While a child of the runtime is held at the entry of its `nth` `syscall`.
    ChildHeld { syscall: &'static str, number: i64, nth: usize },
}

/// One kill point and what it found.
struct Point {
    name: String,
    how: How,
}

/// The runtime under test with a fresh root and a `sleep 600` bundle.
fn setup(tag: &str) -> (Runtime, Bundle) {
    let runtime = Runtime::under_test();
    let mut bundle = Bundle::busybox(tag);
    bundle.args(&["sleep", "600"]);
    (runtime, bundle)
}

/// `runtime --root R create --bundle B id`, as a Command, with the marker set.
fn create_command(runtime: &Runtime, bundle: &Bundle, id: &str) -> Command {
    verb_command("create", runtime, bundle, id)
}

/// `runtime --root R <verb> --bundle B id` (create or run), with the marker set.
fn verb_command(verb: &str, runtime: &Runtime, bundle: &Bundle, id: &str) -> Command {
    let mut command = runtime.command([verb, "--bundle"]);
    command.arg(bundle.path()).arg(id);
    command.env(MARKER, id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// `prefix... <command>` with the same environment.
fn wrapped(prefix: &[&str], command: &Command) -> Command {
    let mut outer = Command::new(prefix[0]);
    outer.args(&prefix[1..]).arg(command.get_program()).args(command.get_args());
    outer.env(MARKER, command.get_envs().find(|(k, _)| *k == MARKER).and_then(|(_, v)| v).unwrap_or_default());
    outer.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    outer
}

/// A hook that records its host pid in `pid_file`, then stays (`sleep 599`) until killed.
fn holding_hook(bundle: &Bundle, stage: &str) -> (serde_json::Value, PathBuf) {
    let pid_file = bundle.path().join(format!("{stage}.pid"));
    let script = bundle.path().join(format!("{stage}.sh"));
    // /proc is the host's while these hooks run, so field 1 of /proc/self/stat (read by the
    // shell itself through the redirection) is the host pid; exec keeps it.
    let text = format!("read -r pid rest < /proc/self/stat\necho $pid > {}.tmp\nmv {0}.tmp {0}\nexec sleep 599\n", pid_file.display());
    std::fs::write(&script, text).expect("write hook script");
    (json!({ "path": "/bin/sh", "args": ["sh", script] }), pid_file)
}

/// Children of `pid` (every thread's), and theirs, recursively.
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(child);
                queue.push(child);
            }
        }
    }
    out
}

/// The threads of `pid`.
fn threads(pid: i32) -> Vec<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.flatten().filter_map(|t| t.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Processes (other than strace and this test) whose environment carries the marker `id`.
fn marked_processes(id: &str) -> Vec<i32> {
    let needle = format!("{MARKER}={id}\0");
    let own = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| pid != own)
                .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() != "strace"))
                .filter(|pid| std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes())))
                .filter(|&pid| !berth_e2e::inspect::is_gone_or_zombie(pid))
                .collect()
        })
        .unwrap_or_default()
}

/// Is `pid` still a live `sleep 599` (a holding hook)?
fn hook_alive(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x00599\x00") && !berth_e2e::inspect::is_gone_or_zombie(pid)
}

/// The runtime's process under `strace` (its first child), once it has exec'd.
fn traced_runtime(strace: &Child) -> Option<i32> {
    until(Duration::from_secs(10), || {
        let pid = descendants(strace.id() as i32).into_iter().next()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() != "strace").then_some(pid)
    })
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) with plain integers touches no memory of ours.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Waits (briefly) for `child` to end, killing it if it does not (strace follows a
/// surviving init for as long as it lives).
fn reap(mut child: Child, grace: Duration) {
    if until(grace, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Start the create and kill the runtime at the point. Returns the pid files of hooks.
fn kill_at(runtime: &Runtime, bundle: &mut Bundle, id: &str, how: &How) -> Result<Vec<PathBuf>, String> {
    let mut hook_pids = Vec::new();
    match how {
        How::Fraction { verb, tenths, typical } => {
            let mut child = verb_command(verb, runtime, bundle, id).spawn().map_err(|e| format!("spawn: {e}"))?;
            std::thread::sleep(*typical * *tenths / 10);
            let _ = child.kill();
            let _ = child.wait();
        }
        How::Syscall { syscall, nth } => {
            let inject = format!("inject={syscall}:signal=KILL:when={nth}");
            let trace = format!("trace={syscall}");
            let command = create_command(runtime, bundle, id);
            let child = wrapped(&["strace", "-qq", "-o", "/dev/null", "-e", &trace, "-e", &inject], &command)
                .spawn()
                .map_err(|e| format!("spawn strace: {e}"))?;
            reap(child, Duration::from_secs(20));
        }
        How::Hook { stage } => {
            let (hook, pid_file) = holding_hook(bundle, stage);
            bundle.edit(|c| c["hooks"] = json!({ *stage: [hook] }));
            let mut child = create_command(runtime, bundle, id).spawn().map_err(|e| format!("spawn: {e}"))?;
            let seen = until(Duration::from_secs(10), || pid_file.exists().then_some(()));
            let _ = child.kill();
            let _ = child.wait();
            hook_pids.push(pid_file);
            // The re-create must not wait on a holding hook again.
            bundle.edit(|c| {
                c.as_object_mut().map(|c| c.remove("hooks"));
            });
            if seen.is_none() {
                return Err(format!("the {stage} hook never ran"));
            }
        }
        How::ChildHeld { syscall, number, nth } => {
            let inject = format!("inject={syscall}:delay_enter=5000000:when={nth}");
            let trace = format!("trace={syscall}");
            let command = create_command(runtime, bundle, id);
            let strace = wrapped(&["strace", "-f", "-qq", "-o", "/dev/null", "-e", &trace, "-e", &inject], &command)
                .spawn()
                .map_err(|e| format!("spawn strace: {e}"))?;
            let Some(runtime_pid) = traced_runtime(&strace) else {
                reap(strace, Duration::ZERO);
                return Err("the runtime never started under strace".into());
            };
            let prefix = format!("{number} ");
            let held = until(Duration::from_secs(10), || {
                descendants(runtime_pid)
                    .into_iter()
                    .flat_map(threads)
                    .any(|t| std::fs::read_to_string(format!("/proc/{t}/syscall")).is_ok_and(|s| s.starts_with(&prefix)))
                    .then_some(())
            });
            sigkill(runtime_pid);
            reap(strace, Duration::from_secs(3));
            if held.is_none() {
                return Err(format!("no child was ever held at {syscall} #{nth}"));
            }
        }
    }
    Ok(hook_pids)
}

/// Everything the container may have left, described.
fn leftovers(runtime: &Runtime, bundle: &Bundle, id: &str, hook_pid_files: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    let state_dir = runtime.root().join(id);
    if state_dir.exists() {
        found.push(format!("state directory {}", state_dir.display()));
    }
    found.extend(cgroup_dirs(id).into_iter().filter(|d| d.exists()).map(|d| format!("cgroup {}", d.display())));
    found.extend(processes_in(bundle.path()).into_iter().map(|p| format!("process {p} rooted in the bundle")));
    found.extend(marked_processes(id).into_iter().map(|p| format!("runtime process {p}")));
    for file in hook_pid_files {
        if let Some(pid) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse().ok()) {
            if hook_alive(pid) {
                found.push(format!("hook process {pid}"));
            }
        }
    }
    found.extend(berth_e2e::inspect::host_mounts_under(bundle.path()).into_iter().map(|m| format!("mount {}", m.display())));
    found
}

/// Polls until nothing is left (dying processes take a moment); the leftovers otherwise.
fn settle(runtime: &Runtime, bundle: &Bundle, id: &str, hooks: &[PathBuf]) -> Result<(), String> {
    let mut last = Vec::new();
    let clean = until(Duration::from_secs(3), || {
        last = leftovers(runtime, bundle, id, hooks);
        last.is_empty().then_some(())
    });
    clean.ok_or_else(|| last.join(", "))
}

/// After the kill: list, state, delete --force, nothing left, re-create, delete again.
fn recover(runtime: &Runtime, bundle: &Bundle, id: &str, hooks: &[PathBuf]) -> Result<(), String> {
    // Something was made if any trace of the container is on the host.
    let made = !leftovers(runtime, bundle, id, hooks).is_empty();
    if made && runtime.root().join(id).exists() {
        let list = runtime.exec(["list", "--format", "json"]);
        let listed = serde_json::from_str::<serde_json::Value>(&list.stdout)
            .ok()
            .and_then(|v| v.as_array().map(|a| a.iter().any(|c| c["id"] == id)))
            .unwrap_or(false);
        if !listed {
            return Err(format!("`list` does not show it ({})", list.stdout.trim()));
        }
        let state = runtime.exec(["state", id]);
        if !state.status.success() {
            return Err(format!("`state` fails: {}", state.stderr.trim()));
        }
    } else if made {
        return Err(format!("no state directory, but left: {}", leftovers(runtime, bundle, id, hooks).join(", ")));
    }
    let delete = runtime.exec(["delete", "--force", id]);
    if !delete.status.success() {
        return Err(format!("`delete --force` fails: {}", delete.stderr.trim()));
    }
    settle(runtime, bundle, id, hooks).map_err(|left| format!("after delete --force: {left}"))?;
    let create = runtime.exec(["create", "--bundle", bundle.path().to_str().unwrap(), id]);
    let result = if create.status.success() { Ok(()) } else { Err(format!("re-create fails: {}", create.stderr.trim())) };
    let delete = runtime.exec(["delete", "--force", id]);
    result?;
    if !delete.status.success() {
        return Err(format!("delete after re-create fails: {}", delete.stderr.trim()));
    }
    settle(runtime, bundle, id, hooks).map_err(|left| format!("after the second delete: {left}"))
}

/// Best effort, whatever happened: nothing of `id` survives the test.
fn tidy(runtime: &Runtime, bundle: &Bundle, id: &str, hooks: &[PathBuf]) {
    let _ = runtime.command(["delete", "--force", id]).output();
    for pid in marked_processes(id).into_iter().chain(processes_in(bundle.path())) {
        sigkill(pid);
    }
    for file in hooks {
        if let Some(pid) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse().ok()) {
            if hook_alive(pid) {
                sigkill(pid);
            }
        }
    }
    let _ = runtime.command(["delete", "--force", id]).output();
    // What the runtime did not remove (runc's, say) goes once its processes are gone.
    until(Duration::from_secs(3), || {
        let left: Vec<PathBuf> = cgroup_dirs(id).into_iter().filter(|d| d.exists() && std::fs::remove_dir(d).is_err()).collect();
        left.is_empty().then_some(())
    });
}

/// Run every point; print and return the failures.
fn run_points(tag: &str, points: Vec<Point>) -> Vec<String> {
    let total = points.len();
    let mut failures = Vec::new();
    for point in points {
        let (runtime, mut bundle) = setup(tag);
        let id = unique_id(tag);
        let outcome = kill_at(&runtime, &mut bundle, &id, &point.how);
        let hooks = outcome.as_ref().cloned().unwrap_or_default();
        let result = outcome.and_then(|hooks| recover(&runtime, &bundle, &id, &hooks));
        tidy(&runtime, &bundle, &id, &hooks);
        if let Err(why) = result {
            eprintln!("  not recovered: {} ({:?}): {why}", point.name, point.how);
            failures.push(format!("{}: {why}", point.name));
        }
    }
    let runtime = berth_e2e::binaries::runtime_under_test();
    println!("kill points {tag}: recovered {}/{total} ({})", total - failures.len(), runtime.display());
    failures
}

/// Fails the test with the list, except against a reference runtime, which only reports.
#[track_caller]
fn assert_all_recovered(failures: Vec<String>) {
    if !failures.is_empty() && deliberate_difference("runc leaves state behind when killed part-way; its count is reported only") {
        return;
    }
    assert!(failures.is_empty(), "not recovered:\n{}", failures.join("\n"));
}

/// How long a create takes here (median of three), for the fraction points.
fn typical_create_time() -> Duration {
    let (runtime, bundle) = setup("kp-time");
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let id = unique_id("kp-time");
            let started = Instant::now();
            runtime.exec(["create", "--bundle", bundle.path().to_str().unwrap(), &id]).success();
            let took = started.elapsed();
            runtime.exec(["delete", "--force", &id]).success();
            took
        })
        .collect();
    times.sort();
    times[1]
}

#[test]
fn killed_at_fractions_of_the_create_time() {
    let typical = typical_create_time();
    let points = (1..=9).map(|tenths| Point { name: format!("{tenths}/10 of {typical:?}"), how: How::Fraction { verb: "create", tenths, typical } }).collect();
    assert_all_recovered(run_points("kp-frac", points));
}

#[test]
fn run_killed_at_fractions_of_the_create_time() {
    // A foreground run is a create, a start and a wait: killed in its create, it must recover
    // as create does; killed later, it leaves a running container `delete --force` removes.
    let typical = typical_create_time();
    let points = [2, 5, 8, 12, 15]
        .map(|tenths| Point { name: format!("run at {tenths}/10 of {typical:?}"), how: How::Fraction { verb: "run", tenths, typical } });
    assert_all_recovered(run_points("kp-run", points.into()));
}

#[test]
fn killed_while_a_hook_runs() {
    let points = ["createRuntime", "createContainer"].map(|stage| Point { name: format!("during the {stage} hook"), how: How::Hook { stage } });
    assert_all_recovered(run_points("kp-hook", points.into()));
}

#[test]
fn killed_while_the_init_is_held() {
    let chdirs = traced_count("chdir", true);
    let points = vec![
        Point { name: "init held at its 3rd mount".into(), how: How::ChildHeld { syscall: "mount", number: libc::SYS_mount, nth: 3 } },
        Point { name: "init held at pivot_root".into(), how: How::ChildHeld { syscall: "pivot_root", number: libc::SYS_pivot_root, nth: 1 } },
        Point { name: format!("init held at its last chdir (#{chdirs})"), how: How::ChildHeld { syscall: "chdir", number: libc::SYS_chdir, nth: chdirs } },
    ];
    assert_all_recovered(run_points("kp-held", points));
}

/// The most calls of `syscall` any one process made in a traced create (children followed
/// when `follow`).
fn traced_count(syscall: &str, follow: bool) -> usize {
    traced_create(syscall, follow).into_iter().fold(BTreeMap::<i32, usize>::new(), |mut m, (pid, _, _)| {
        *m.entry(pid).or_default() += 1;
        m
    })
    .into_values()
    .max()
    .unwrap_or(1)
}

/// (pid, syscall, arguments and result) of every call of `syscalls` in a traced create.
fn traced_create(syscalls: &str, follow: bool) -> Vec<(i32, String, String)> {
    let (runtime, bundle) = setup("kp-dry");
    let id = unique_id("kp-dry");
    let log = runtime.scratch().join("strace.log");
    let mut args = vec!["strace", "-qq", "-o", log.to_str().unwrap(), "-e"];
    let trace = format!("trace={syscalls}");
    args.push(&trace);
    if follow {
        args.insert(1, "-f");
    }
    // strace follows the created init for as long as it lives: wait for the runtime alone,
    // then delete the container, which ends the init and with it strace.
    let strace = wrapped(&args, &create_command(&runtime, &bundle, &id)).spawn().expect("run strace");
    let exited = until(Duration::from_secs(20), || {
        let state = runtime.exec(["state", &id]);
        (state.status.success() && state.stdout.contains("\"created\"")).then_some(())
    });
    runtime.exec(["delete", "--force", &id]);
    reap(strace, Duration::from_secs(5));
    assert!(exited.is_some(), "the traced create did not finish");
    assert!(runtime.exec(["list"]).stdout.lines().count() <= 1, "the traced create left a container");
    let text = std::fs::read_to_string(&log).expect("read strace log");
    text.lines()
        .filter_map(|line| {
            let (pid, rest) = if follow { line.split_once(' ')? } else { ("0", line) };
            let (name, args) = rest.trim_start().split_once('(')?;
            Some((pid.parse().ok()?, name.to_owned(), args.to_owned()))
        })
        .collect()
}

#[test]
fn killed_at_each_step_of_the_parent() {
    if deliberate_difference("these points follow berth's own recipe (its parent is single-threaded); runc is measured at the others") {
        return;
    }
    // A dry run names the steps: every mkdir, mknod, clone and rename; the writes that move
    // the init into its cgroup, set device rules or talk to the init; sync-socket sends.
    // A dry run cut short (a loaded machine) would test fewer points: take one that got
    // past the clone.
    let syscalls = "mkdir,mkdirat,mknodat,clone3,openat,write,pwrite64,sendto,sendmsg,rename,renameat2";
    let calls = (0..3)
        .map(|_| traced_create(syscalls, false))
        .find(|calls| calls.iter().any(|(_, name, _)| name == "clone3"))
        .expect("no traced dry run of create got as far as its clone3");
    let mut counts = BTreeMap::<String, usize>::new();
    let mut open_paths = BTreeMap::<String, String>::new();
    let mut points = Vec::new();
    for (_, name, args) in calls {
        let nth = {
            let n = counts.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        let interesting = match name.as_str() {
            "openat" => {
                // Remember which path each descriptor names, to tell writes apart.
                if let (Some(path), Some(fd)) = (args.split('"').nth(1), args.rsplit("= ").next()) {
                    open_paths.insert(fd.trim().to_owned(), path.to_owned());
                }
                false
            }
            "write" | "pwrite64" => {
                let fd = args.split(',').next().unwrap_or_default().trim().to_owned();
                let path = open_paths.get(&fd).cloned().unwrap_or_default();
                path.ends_with("cgroup.procs")
                    || path.ends_with("devices.deny")
                    || path.ends_with(".tmp")
                    || path.ends_with("state.json")
                    || path.is_empty()
            }
            _ => true,
        };
        if interesting {
            let what: String = args.chars().take(70).collect();
            points.push(Point { name: format!("{name} #{nth} ({what})"), how: How::Syscall { syscall: name, nth } });
        }
    }
    assert!(points.len() > 5, "the dry run found too few steps: {}", points.len());
    assert_all_recovered(run_points("kp-step", points));
}

#[test]
fn killing_exec_part_way_leaves_the_container_running() {
    let (runtime, bundle) = setup("kp-exec");
    let id = unique_id("kp-exec");
    let container = berth_e2e::Container::new(&runtime, &bundle, &id);
    container.create(&[]).success();
    container.start().success();
    for tenths in [1u32, 3, 5, 7, 9] {
        let mut child = runtime.command(["exec", &id, "sleep", "598"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn exec");
        std::thread::sleep(Duration::from_millis(2) * tenths);
        let _ = child.kill();
        let _ = child.wait();
        let state = container.state();
        assert_eq!(state["status"], "running", "after exec killed at {tenths}/10: {state}");
    }
    container.delete(&["--force"]).success();
    let left = until(Duration::from_secs(3), || {
        let left = leftovers(&runtime, &bundle, &id, &[]);
        left.is_empty().then_some(()).ok_or(left).ok()
    });
    assert!(left.is_some(), "exec killed part-way left: {:?}", leftovers(&runtime, &bundle, &id, &[]));
}

#[test]
fn killed_between_a_parent_cgroup_and_its_leaf() {
    if deliberate_difference("berth removes the parent cgroups it made (README); runc leaves them") {
        return;
    }
    // cgroupsPath PARENT/ID, as containerd's /<namespace>/<id>: killed at the leaf's mkdir in
    // the first hierarchy, after its parent's. mkdir #1 and #2 are the state root and the
    // container's state directory; #3 is the parent in the first hierarchy, #4 its leaf.
    let (runtime, mut bundle) = setup("kp-parent");
    let id = unique_id("kp-parent");
    let parent = format!("{id}-parent");
    let cgroups_path = format!("{parent}/{id}");
    bundle.edit(|c| c["linux"]["cgroupsPath"] = json!(cgroups_path));
    let how = How::Syscall { syscall: "mkdir".into(), nth: 4 };
    let result = kill_at(&runtime, &mut bundle, &id, &how).and_then(|hooks| recover(&runtime, &bundle, &id, &hooks));
    let parents: Vec<PathBuf> = cgroup_dirs(&parent).into_iter().filter(|d| d.exists()).collect();
    tidy(&runtime, &bundle, &id, &[]);
    for dir in cgroup_dirs(&cgroups_path).into_iter().chain(cgroup_dirs(&parent)) {
        let _ = std::fs::remove_dir(dir);
    }
    result.unwrap_or_else(|why| panic!("not recovered: {why}"));
    assert!(parents.is_empty(), "parent cgroups left behind: {parents:?}");
}
