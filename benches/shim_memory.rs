//! Resident memory of idle keepers: berth-shim beside conmon, side by side on one bundle.
//!
//! Starts N (default 20) `sleep 600` containers kept by `berth-shim run -d` and N kept by
//! conmon (as podman starts it: conmon creates through the runtime, then `start`), alternating
//! between the two so that machine noise hits both alike, both over the same runtime (berth)
//! and the same busybox bundle. Once all are up and idle it reads each keeper's Rss and Pss
//! from /proc/PID/smaps_rollup and prints the medians, the totals and berth-shim's ratios to
//! conmon's. Everything is removed afterwards.
//!
//! `cargo bench -p berth-e2e --bench shim_memory` (BENCH_N=…). berth-shim is the newest built
//! (`cargo berth-shim-static` for the shipped one), the runtime `$BERTH_RUNTIME` or the newest
//! built berth.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::binaries::{newest_built, on_path, runtime_under_test};
use berth_e2e::poll::until;
use berth_e2e::{Bundle, TempDir};

/// One kept container: its keeper's pid and how to take it down.
struct Kept {
    keeper: i32,
    id: String,
}

#[derive(Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    pss_kib: u64,
}

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let shim = newest_built("berth-shim").expect("build berth-shim first (cargo berth-shim-static)");
    let Some(conmon) = on_path("conmon") else {
        eprintln!("conmon is not installed; nothing to compare with");
        return;
    };
    let runtime = runtime_under_test();
    let dir = TempDir::new("bench-shim");
    let runtime_root = dir.path().join("runtime-root");
    let shim_root = dir.path().join("shim-root");
    let mut bundle = Bundle::busybox("bench-shim");
    bundle.args(&["sleep", "600"]);
    println!("{n} idle containers each, alternating; runtime {}", runtime.display());
    println!("berth-shim: {}\nconmon: {}", shim.display(), conmon.display());

    let mut shims = Vec::new();
    let mut conmons = Vec::new();
    for i in 0..n {
        shims.push(start_shim(&shim, &shim_root, &runtime, &runtime_root, bundle.path(), &format!("bench-shim-{i}")));
        conmons.push(start_conmon(&conmon, dir.path(), &runtime, &runtime_root, bundle.path(), &format!("bench-conmon-{i}")));
    }
    // Idle: let start-up work settle before reading.
    std::thread::sleep(Duration::from_secs(1));
    let shim_memory: Vec<Memory> = shims.iter().map(|k| memory(k.keeper)).collect();
    let conmon_memory: Vec<Memory> = conmons.iter().map(|k| memory(k.keeper)).collect();

    report(&[("berth-shim", &shim_memory), ("conmon", &conmon_memory)]);

    for kept in &shims {
        let _ = Command::new(&shim).arg("--root").arg(&shim_root).args(["rm", "-f", &kept.id]).status();
    }
    for kept in &conmons {
        let _ = runtime_command(&runtime, &runtime_root).args(["kill", &kept.id, "KILL"]).status();
        until(Duration::from_secs(10), || (!Path::new(&format!("/proc/{}", kept.keeper)).exists()).then_some(()));
        let _ = runtime_command(&runtime, &runtime_root).args(["delete", "--force", &kept.id]).status();
    }
}

fn runtime_command(runtime: &Path, root: &Path) -> Command {
    let mut command = Command::new(runtime);
    command.arg("--root").arg(root).stdout(Stdio::null()).stderr(Stdio::null());
    command
}

fn start_shim(shim: &Path, root: &Path, runtime: &Path, runtime_root: &Path, bundle: &Path, id: &str) -> Kept {
    let status = Command::new(shim)
        .arg("--root")
        .arg(root)
        .args(["run", "-d", "--runtime"])
        .arg(runtime)
        .arg("--runtime-root")
        .arg(runtime_root)
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .status()
        .expect("spawn berth-shim");
    assert!(status.success(), "berth-shim run -d {id} failed");
    let record = std::fs::read_to_string(root.join(id).join("keeper.json")).expect("keeper.json");
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    Kept { keeper: record["keeper_pid"].as_i64().unwrap() as i32, id: id.to_owned() }
}

/// conmon as podman runs it: it forks itself off, creates the container through the runtime
/// and waits; the manager then starts the container.
fn start_conmon(conmon: &Path, dir: &Path, runtime: &Path, runtime_root: &Path, bundle: &Path, id: &str) -> Kept {
    let base = dir.join(id);
    for sub in ["exit", "persist", "sock"] {
        std::fs::create_dir_all(base.join(sub)).unwrap();
    }
    let pid_file = base.join("conmon.pid");
    let path = |name: &str| base.join(name).display().to_string();
    let status = Command::new(conmon)
        .args(["--api-version", "1", "-c", id, "-u", id, "-n", id, "--log-level", "error"])
        .arg("-r")
        .arg(runtime)
        .arg("-b")
        .arg(bundle)
        .args(["-p", &path("container.pid"), "--exit-dir", &path("exit"), "--persist-dir", &path("persist")])
        .args(["-l", &format!("k8s-file:{}", path("container.log")), "--socket-dir-path", &path("sock")])
        .args(["-P", &path("conmon.pid"), "--runtime-arg", "--root", "--runtime-arg"])
        .arg(runtime_root)
        .stdin(Stdio::null())
        .status()
        .expect("spawn conmon");
    assert!(status.success(), "conmon for {id} failed");
    let keeper = until(Duration::from_secs(10), || std::fs::read_to_string(&pid_file).ok()?.trim().parse::<i32>().ok())
        .expect("conmon wrote its pid");
    // conmon only creates; the manager starts once the container exists.
    until(Duration::from_secs(10), || {
        let status = runtime_command(runtime, runtime_root).args(["state", id]).status().ok()?;
        status.success().then_some(())
    })
    .expect("conmon created the container");
    let started = runtime_command(runtime, runtime_root).args(["start", id]).status().expect("spawn runtime start");
    assert!(started.success(), "start {id} failed");
    Kept { keeper, id: id.to_owned() }
}

/// Rss and Pss of a whole process, from smaps_rollup.
fn memory(pid: i32) -> Memory {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_else(|e| panic!("keeper {pid}: {e}"));
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or(0)
    };
    Memory { rss_kib: field("Rss:"), pss_kib: field("Pss:") }
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn report(rows: &[(&str, &Vec<Memory>)]) {
    let base = rows[rows.len() - 1].1;
    let base_rss = median(base.iter().map(|m| m.rss_kib).collect()) as f64;
    let base_pss = median(base.iter().map(|m| m.pss_kib).collect()) as f64;
    println!("| keeper | RSS median | vs conmon | PSS median | vs conmon | PSS total ({} keepers) |", base.len());
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, memory) in rows {
        let rss = median(memory.iter().map(|m| m.rss_kib).collect());
        let pss = median(memory.iter().map(|m| m.pss_kib).collect());
        let total: u64 = memory.iter().map(|m| m.pss_kib).sum();
        println!(
            "| {name} | {rss} KiB | {:.2}x | {pss} KiB | {:.2}x | {total} KiB |",
            rss as f64 / base_rss,
            pss as f64 / base_pss
        );
    }
}

