//! containerd's shims side by side: berth's `containerd-shim-berth-v2` (running berth) and
//! Debian's `containerd-shim-runc-v2` (running runc), under one private containerd.
//!
//! 1. Memory: 20 idle `sleep` containers per variant, each with its own shim process; the RSS and
//!    PSS of every shim (from /proc/PID/smaps_rollup), reported as the mean per shim.
//! 2. Speed: `ctr run --rm` of a `/bin/true` task, N rounds with the runs interleaved so the
//!    machine's noise hits all alike; median and ratio. berth's shim runs twice: as shipped
//!    (berth's verbs that make no process done in the shim through berth's library) and with
//!    BinaryName naming the same berth (every verb a berth process, as before the library).
//!
//! `cargo bench -p berth-e2e --bench shims` (BENCH_N=20 rounds, BENCH_IDLE=20 containers;
//! BENCH_OTHER_SHIM=PATH adds another build of berth's shim, by absolute path, e.g. an older
//! commit's next to the same berth).
//! The shim measured is the newest built containerd-shim-berth-v2, with the berth beside it:
//! build both first (`cargo containerd-shim-static` and `cargo berth-static`, both into
//! target/berth-release/).

use berth_e2e::containerd::{berth_shim_binary, Containerd, ShimKind};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// Rss and Pss of a process in KiB.
fn rss_pss_kib(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Start `count` idle containers the `variant` way, measure their shims, delete them again.
fn idle_memory(ctd: &Containerd, variant: &Variant, index: usize, count: usize) -> (u64, u64, usize) {
    let before: Vec<i32> = ctd.shim_pids();
    let ids: Vec<String> = (0..count).map(|n| format!("idle-{index}-{n}")).collect();
    for id in &ids {
        let mut args = vec!["run", "-d", "--runtime", &variant.runtime];
        args.extend(variant.flags.iter().map(String::as_str));
        args.extend(["busybox:latest", id, "sleep", "3600"]);
        let out = ctd.ctr(&args);
        assert!(out.status.success(), "ctr run -d {id}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Let them settle (the shims' start-up allocations are part of what they keep).
    std::thread::sleep(Duration::from_secs(2));
    let shims: Vec<i32> = ctd.shim_pids().into_iter().filter(|p| !before.contains(p)).collect();
    let (mut rss, mut pss) = (0, 0);
    for pid in &shims {
        let (r, p) = rss_pss_kib(*pid);
        rss += r;
        pss += p;
    }
    for id in &ids {
        let _ = ctd.ctr(&["task", "kill", "-s", "KILL", id]);
    }
    for id in &ids {
        for _ in 0..50 {
            if ctd.ctr(&["task", "delete", id]).status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = ctd.ctr(&["container", "rm", id]);
    }
    let n = shims.len().max(1) as u64;
    (rss / n, pss / n, shims.len())
}

/// How a `ctr run` reaches its runtime.
struct Variant {
    name: String,
    /// The runtime type, or a shim's absolute path.
    runtime: String,
    /// Extra `ctr run` flags (berth's shim with a runtime options file naming BinaryName).
    flags: Vec<String>,
}

fn time_run_rm(ctd: &Containerd, variant: &Variant, index: usize, n: usize) -> Duration {
    let id = format!("true-{index}-{n}");
    let mut args = vec!["run", "--rm", "--runtime", &variant.runtime];
    args.extend(variant.flags.iter().map(String::as_str));
    args.extend(["busybox:latest", &id, "/bin/true"]);
    let started = Instant::now();
    let out = ctd.ctr(&args);
    let took = started.elapsed();
    assert!(out.status.success(), "ctr run --rm: {}", String::from_utf8_lossy(&out.stderr));
    took
}

fn main() {
    let rounds = env_number("BENCH_N", 20);
    let idle = env_number("BENCH_IDLE", 20);
    println!("berth's shim: {}", berth_shim_binary().display());
    let ctd = Containerd::start("bench-shims", "");
    ctd.import_busybox();

    // 2 first (nothing else running), interleaved after one warm-up each.
    let options = ctd.dir().join("berth-binary.toml");
    let berth = berth_shim_binary().with_file_name("berth");
    std::fs::write(&options, format!("BinaryName = \"{}\"\n", berth.display())).expect("write runtime options");
    let of = |kind: ShimKind| kind.runtime_type().to_owned();
    let mut variants = vec![
        Variant { name: "containerd-shim-berth-v2 + berth".into(), runtime: of(ShimKind::Berth), flags: Vec::new() },
        Variant { name: "containerd-shim-runc-v2 + runc".into(), runtime: of(ShimKind::Runc), flags: Vec::new() },
        Variant {
            name: "containerd-shim-berth-v2, berth as BinaryName".into(),
            runtime: of(ShimKind::Berth),
            flags: vec!["--runtime-config-path".into(), options.display().to_string()],
        },
    ];
    // Another build of berth's shim to compare in the same run (an older commit's), by path.
    if let Ok(other) = std::env::var("BENCH_OTHER_SHIM") {
        variants.push(Variant { name: format!("{other} + berth"), runtime: other, flags: Vec::new() });
    }
    for (index, variant) in variants.iter().enumerate() {
        time_run_rm(&ctd, variant, index, usize::MAX);
    }
    let mut times: Vec<Vec<Duration>> = variants.iter().map(|_| Vec::new()).collect();
    for n in 0..rounds {
        for (index, variant) in variants.iter().enumerate() {
            times[index].push(time_run_rm(&ctd, variant, index, n));
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();

    let memory: Vec<(u64, u64, usize)> = variants.iter().enumerate().map(|(index, variant)| idle_memory(&ctd, variant, index, idle)).collect();

    println!();
    println!("| shim | shims for {idle} idle containers | RSS per shim | PSS per shim | `ctr run --rm` /bin/true median ({rounds} rounds) | vs runc shim |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, variant) in variants.iter().enumerate() {
        let ratio = medians[i].as_secs_f64() / medians[1].as_secs_f64();
        let (rss, pss, shims) = memory[i];
        println!(
            "| {} | {shims} | {:.1} MiB | {:.1} MiB | {:.1} ms | {ratio:.2}x |",
            variant.name,
            rss as f64 / 1024.0,
            pss as f64 / 1024.0,
            medians[i].as_secs_f64() * 1000.0
        );
    }
}
