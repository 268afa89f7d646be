//! Whole-process comparison of berth, runc and crun on one bundle.
//!
//! For a `/bin/true` container made from the example busybox bundle, runs
//! `<runtime> run` and then `<runtime> state` N times each, interleaving the
//! runtimes so that machine noise hits all of them alike, and reports the
//! medians, the ratio of each to berth, and each runtime process's peak RSS
//! (ru_maxrss from wait4, which covers the children it reaped, such as its
//! container init).
//!
//! It also times `exec` of /bin/true into a running container, `run` with limits, and `run`
//! and `exec` each after a pause (as commands that do not follow one another closely run).
//!
//! `cargo bench -p berth-e2e --bench runtimes` (BENCH_N=50 for more rounds;
//! BENCH_ONLY=runc,crun to pick runtimes; BERTH_BASELINE=/path/to/an/older/berth adds it
//! as "berth-base", interleaved with the rest, to measure a change of berth's own).
//! berth is `$BERTH_RUNTIME` or the newest built `berth`; a runtime that is
//! not installed is left out. crun 1.8.1 refuses this machine's hybrid cgroup
//! layout, so it runs inside `unshare --mount` after unmounting the cgroup2
//! tree; that wrapper alone (with `true` in crun's place) runs as one more
//! contender, interleaved like the rest, so crun's figures can be shown less it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_e2e::binaries::{newest_built, on_path};
use berth_e2e::{Bundle, Runtime};

/// The name under which crun's wrapper alone is reported.
const WRAPPER: &str = "(wrapper)";

/// The wrapper that lets crun 1.8.1 run on a hybrid cgroup host.
const CRUN_WRAPPER: &str = "umount -l /sys/fs/cgroup/unified && exec \"$0\" \"$@\"";

struct Contender {
    name: &'static str,
    runtime: Runtime,
    runs: Vec<Sample>,
    /// `run` of the same container with memory, cpu and pids limits: the cost of the cgroup
    /// writes on top of the cgroup itself.
    limited_runs: Vec<Sample>,
    /// `run` of the same container in a user namespace of its own (container 0.. as host
    /// 100000..): the maps written by the parent, devices bound instead of made.
    userns_runs: Vec<Sample>,
    states: Vec<Sample>,
    /// `events --stats` of a running container (runtimes that have the verb).
    event_stats: Vec<Sample>,
    /// `exec` of /bin/true into a running container.
    execs: Vec<Sample>,
    /// `run` and `exec` after a pause (see [`COLD_PAUSE`]).
    cold_runs: Vec<Sample>,
    cold_execs: Vec<Sample>,
}

/// How long each "cold" measurement waits first: long enough for the kernel's rcu_sync behind
/// the global cgroup_threadgroup_rwsem to go idle again, so that a runtime writing a pid to
/// cgroup.procs waits for a whole RCU grace period, as a `run` or `exec` that does not
/// closely follow another does in real use (the back-to-back rounds above keep it warm).
const COLD_PAUSE: Duration = Duration::from_millis(250);

/// One finished process: wall time and peak resident set.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_kib: i64,
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing.
    let rounds: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let mut bundle = Bundle::busybox("bench");
    bundle.args(&["/bin/true"]);
    let mut limited = Bundle::busybox("bench-limits");
    limited.args(&["/bin/true"]).edit(|c| {
        c["linux"]["resources"]["memory"] = serde_json::json!({ "limit": 268_435_456 });
        c["linux"]["resources"]["cpu"] = serde_json::json!({ "quota": 50_000, "period": 100_000, "shares": 512 });
        c["linux"]["resources"]["pids"] = serde_json::json!({ "limit": 100 });
    });
    let mut userns = Bundle::busybox("bench-userns");
    userns.args(&["/bin/true"]).namespace("user", None).edit(|c| {
        c["linux"]["uidMappings"] = serde_json::json!([{ "containerID": 0, "hostID": 100_000, "size": 65_536 }]);
        c["linux"]["gidMappings"] = serde_json::json!([{ "containerID": 0, "hostID": 100_000, "size": 65_536 }]);
    });
    let chowned = std::process::Command::new("chown").args(["-R", "-h", "100000:100000"]).arg(userns.rootfs()).status();
    assert!(chowned.is_ok_and(|s| s.success()), "chown the user namespace bundle's rootfs");
    let mut sleeper = Bundle::busybox("bench-events");
    sleeper.args(&["sleep", "600"]);

    let mut contenders = contenders();
    println!(
        "{} rounds each, interleaved: {}",
        rounds,
        contenders
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    );

    // `run`: create, start, wait for exit, delete, as one command.
    for round in 0..rounds {
        for contender in &mut contenders {
            let id = format!("bench-run-{round}");
            let args = ["run", "--bundle", bundle.path().to_str().unwrap(), &id];
            contender
                .runs
                .push(measure(&contender.runtime, &args, contender.name));
        }
    }

    // `run` with a user namespace (not for a baseline berth, which may predate them).
    for round in 0..rounds {
        for contender in contenders.iter_mut().filter(|c| c.name != "berth-base") {
            let id = format!("bench-userns-{round}");
            let args = ["run", "--bundle", userns.path().to_str().unwrap(), &id];
            contender.userns_runs.push(measure(&contender.runtime, &args, contender.name));
        }
    }

    // `run` with limits.
    for round in 0..rounds {
        for contender in &mut contenders {
            let id = format!("bench-limits-{round}");
            let args = ["run", "--bundle", limited.path().to_str().unwrap(), &id];
            contender.limited_runs.push(measure(&contender.runtime, &args, contender.name));
        }
    }

    // `events --stats` of a running container, where the runtime has the verb (crun has not).
    let mut with_events: Vec<&mut Contender> = contenders.iter_mut().filter(|c| c.name == "berth" || c.name == "runc").collect();
    for contender in &mut with_events {
        let args = ["run", "--detach", "--bundle", sleeper.path().to_str().unwrap(), "bench-events"];
        measure(&contender.runtime, &args, contender.name);
    }
    for _ in 0..rounds {
        for contender in &mut with_events {
            let sample = measure(&contender.runtime, &["events", "--stats", "bench-events"], contender.name);
            contender.event_stats.push(sample);
        }
    }
    for contender in &mut with_events {
        measure(&contender.runtime, &["delete", "--force", "bench-events"], contender.name);
    }

    // `exec` of /bin/true into a running container (the wrapper's `true` stands in for crun).
    for contender in &contenders {
        let args = ["run", "--detach", "--bundle", sleeper.path().to_str().unwrap(), "bench-exec"];
        measure(&contender.runtime, &args, contender.name);
    }
    for _ in 0..rounds {
        for contender in &mut contenders {
            let sample = measure(&contender.runtime, &["exec", "bench-exec", "/bin/true"], contender.name);
            contender.execs.push(sample);
        }
    }
    // The same `exec`, then `run`, each after a pause: fewer rounds, they take a while.
    let cold_rounds = rounds.min(15);
    for _ in 0..cold_rounds {
        for contender in &mut contenders {
            std::thread::sleep(COLD_PAUSE);
            let sample = measure(&contender.runtime, &["exec", "bench-exec", "/bin/true"], contender.name);
            contender.cold_execs.push(sample);
        }
    }
    for contender in &contenders {
        measure(&contender.runtime, &["delete", "--force", "bench-exec"], contender.name);
    }
    for round in 0..cold_rounds {
        for contender in &mut contenders {
            std::thread::sleep(COLD_PAUSE);
            let id = format!("bench-cold-{round}");
            let args = ["run", "--bundle", bundle.path().to_str().unwrap(), &id];
            contender.cold_runs.push(measure(&contender.runtime, &args, contender.name));
        }
    }

    // `state` of a created container.
    for contender in &contenders {
        let args = [
            "create",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "bench-state",
        ];
        measure(&contender.runtime, &args, contender.name);
    }
    for _ in 0..rounds {
        for contender in &mut contenders {
            contender.states.push(measure(
                &contender.runtime,
                &["state", "bench-state"],
                contender.name,
            ));
        }
    }
    for contender in &contenders {
        measure(
            &contender.runtime,
            &["delete", "--force", "bench-state"],
            contender.name,
        );
    }

    report(&contenders);
}

/// berth (if built), runc and crun (if installed), each with its own --root.
fn contenders() -> Vec<Contender> {
    let mut list = Vec::new();
    let berth = std::env::var_os("BERTH_RUNTIME")
        .map(PathBuf::from)
        .or_else(|| newest_built("berth"));
    match berth {
        Some(path) => list.push(contender("berth", Runtime::new(path, Vec::new()))),
        None => println!("berth: not built, left out (cargo build --release -p berth-runtime)"),
    }
    if let Some(path) = std::env::var_os("BERTH_BASELINE") {
        list.push(contender("berth-base", Runtime::new(PathBuf::from(path), Vec::new())));
    }
    if let Some(runc) = on_path("runc") {
        list.push(contender("runc", Runtime::new(runc, Vec::new())));
    }
    if let Some(crun) = on_path("crun") {
        list.push(contender("crun", crun_wrapped(crun.into_os_string())));
        // The wrapper with `true` for crun: `true` ignores the runtime's arguments.
        list.push(contender(WRAPPER, crun_wrapped("true".into())));
    }
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        list.retain(|c| only.split(',').any(|name| name == c.name));
    }
    list
}

/// `unshare --mount ... sh -c '<CRUN_WRAPPER>' <program>`.
fn crun_wrapped(program: OsString) -> Runtime {
    let prefix: Vec<OsString> = [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        CRUN_WRAPPER,
    ]
    .into_iter()
    .map(OsString::from)
    .chain([program])
    .collect();
    Runtime::new(PathBuf::from("unshare"), prefix)
}

fn contender(name: &'static str, runtime: Runtime) -> Contender {
    Contender {
        name,
        runtime,
        runs: Vec::new(),
        limited_runs: Vec::new(),
        userns_runs: Vec::new(),
        states: Vec::new(),
        event_stats: Vec::new(),
        execs: Vec::new(),
        cold_runs: Vec::new(),
        cold_execs: Vec::new(),
    }
}

/// Runs one runtime command; aborts the benchmark if it fails.
fn measure(runtime: &Runtime, args: &[&str], name: &str) -> Sample {
    wait_with_rusage(runtime.command(args), &format!("{name} {}", args.join(" ")))
}

/// Spawns `command` with its output discarded and reaps it with wait4 to get
/// its rusage.
// std's Child::wait would not return the rusage: the child is reaped by the
// wait4 below instead, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn wait_with_rusage(mut command: Command, what: &str) -> Sample {
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child (std never waits for it, as we
    // never call wait on `child`); `status` and `usage` are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(
        reaped,
        pid,
        "wait4 {what}: {}",
        std::io::Error::last_os_error()
    );
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        panic!("{what} failed (wait status {status:#x}): {stderr}");
    }
    Sample {
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn median(samples: &[Sample], key: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(key).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn millis(sample: &Sample) -> f64 {
    sample.wall.as_secs_f64() * 1e3
}

fn report(contenders: &[Contender]) {
    let base_run = contenders
        .iter()
        .find(|c| c.name == "berth")
        .map(|c| median(&c.runs, millis));
    let base_state = contenders
        .iter()
        .find(|c| c.name == "berth")
        .map(|c| median(&c.states, millis));
    let ratio = |value: f64, base: Option<f64>| match base {
        Some(base) => format!("{:.2}x", value / base),
        None => "-".to_owned(),
    };
    println!();
    println!(
        "{:<9} {:>12} {:>9} {:>14} {:>14} {:>9}",
        "runtime", "run median", "vs berth", "run peak RSS", "state median", "vs berth"
    );
    for c in contenders {
        let run = median(&c.runs, millis);
        let state = median(&c.states, millis);
        let rss_mib = median(&c.runs, |s| s.max_rss_kib as f64) / 1024.0;
        println!(
            "{:<9} {:>9.2} ms {:>9} {:>10.1} MiB {:>11.2} ms {:>9}",
            c.name,
            run,
            ratio(run, base_run),
            rss_mib,
            state,
            ratio(state, base_state)
        );
    }
    println!();
    println!("{:<9} {:>12} {:>16} {:>18} {:>20}", "runtime", "run median", "run with limits", "limits add", "events --stats");
    for c in contenders {
        let run = median(&c.runs, millis);
        let limited = median(&c.limited_runs, millis);
        let events = if c.event_stats.is_empty() { "-".to_owned() } else { format!("{:.2} ms", median(&c.event_stats, millis)) };
        println!("{:<9} {:>9.2} ms {:>13.2} ms {:>15.2} ms {:>20}", c.name, run, limited, limited - run, events);
    }
    println!();
    let base_userns = contenders.iter().find(|c| c.name == "berth").map(|c| median(&c.userns_runs, millis));
    println!("{:<9} {:>18} {:>9} {:>12}", "runtime", "run with userns", "vs berth", "userns adds");
    for c in contenders.iter().filter(|c| !c.userns_runs.is_empty()) {
        let userns = median(&c.userns_runs, millis);
        let adds = userns - median(&c.runs, millis);
        println!("{:<9} {:>15.2} ms {:>9} {:>9.2} ms", c.name, userns, ratio(userns, base_userns), adds);
    }
    let base_exec = contenders.iter().find(|c| c.name == "berth").map(|c| median(&c.execs, millis));
    println!();
    println!("{:<10} {:>12} {:>9} {:>14}", "runtime", "exec median", "vs berth", "exec peak RSS");
    for c in contenders {
        let exec = median(&c.execs, millis);
        let rss_mib = median(&c.execs, |s| s.max_rss_kib as f64) / 1024.0;
        println!("{:<10} {:>9.2} ms {:>9} {:>10.1} MiB", c.name, exec, ratio(exec, base_exec), rss_mib);
    }
    let base_cold_run = contenders.iter().find(|c| c.name == "berth").map(|c| median(&c.cold_runs, millis));
    let base_cold_exec = contenders.iter().find(|c| c.name == "berth").map(|c| median(&c.cold_execs, millis));
    println!();
    println!("after a {} ms pause each:", COLD_PAUSE.as_millis());
    println!("{:<10} {:>12} {:>9} {:>12} {:>9}", "runtime", "cold run", "vs berth", "cold exec", "vs berth");
    for c in contenders {
        let run = median(&c.cold_runs, millis);
        let exec = median(&c.cold_execs, millis);
        println!("{:<10} {:>9.2} ms {:>9} {:>9.2} ms {:>9}", c.name, run, ratio(run, base_cold_run), exec, ratio(exec, base_cold_exec));
    }
    let crun = contenders.iter().find(|c| c.name == "crun");
    let wrapper = contenders.iter().find(|c| c.name == WRAPPER);
    if let (Some(crun), Some(wrapper)) = (crun, wrapper) {
        let userns = median(&crun.userns_runs, millis) - median(&wrapper.userns_runs, millis);
        println!("crun less the {WRAPPER}: run with userns {userns:.2} ms ({})", ratio(userns, base_userns));
        let run = median(&crun.runs, millis) - median(&wrapper.runs, millis);
        let state = median(&crun.states, millis) - median(&wrapper.states, millis);
        let exec = median(&crun.execs, millis) - median(&wrapper.execs, millis);
        println!(
            "crun's rows include the {WRAPPER} row (unshare, sh, umount); less it: run {run:.2} ms \
             ({}), state {state:.2} ms ({}), exec {exec:.2} ms ({})",
            ratio(run, base_run),
            ratio(state, base_state),
            ratio(exec, base_exec)
        );
        let cold_run = median(&crun.cold_runs, millis) - median(&wrapper.cold_runs, millis);
        let cold_exec = median(&crun.cold_execs, millis) - median(&wrapper.cold_execs, millis);
        println!(
            "crun less the {WRAPPER} after a pause: run {cold_run:.2} ms ({}), exec {cold_exec:.2} ms ({})",
            ratio(cold_run, base_cold_run),
            ratio(cold_exec, base_cold_exec)
        );
    }
}
