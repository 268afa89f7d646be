//! containerd's shims side by side: berth's `containerd-shim-berth-v2` (running berth) and
//! Debian's `containerd-shim-runc-v2` (running runc), under one private containerd.
//!
//! 1. Memory: 20 idle `sleep` containers per shim, each with its own shim process; the RSS and
//!    PSS of every shim (from /proc/PID/smaps_rollup), reported as the mean per shim.
//! 2. Speed: `ctr run --rm` of a `/bin/true` task, N rounds with the two interleaved so the
//!    machine's noise hits both alike; median and ratio.
//!
//! `cargo bench -p berth-e2e --bench shims` (BENCH_N=20 rounds, BENCH_IDLE=20 containers).
//! The shim measured is the newest built containerd-shim-berth-v2, with the berth beside it:
//! build both release binaries first (`cargo containerd-shim-static`, `cargo build --release -p
//! berth-runtime`).

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

/// Start `count` idle containers on `kind`, measure its shims, delete them again.
fn idle_memory(ctd: &Containerd, kind: ShimKind, count: usize) -> (u64, u64, usize) {
    let before: Vec<i32> = ctd.shim_pids();
    let ids: Vec<String> = (0..count).map(|n| format!("idle-{kind:?}-{n}").to_lowercase()).collect();
    for id in &ids {
        let out = ctd.ctr(&["run", "-d", "--runtime", kind.runtime_type(), "busybox:latest", id, "sleep", "3600"]);
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

fn time_run_rm(ctd: &Containerd, kind: ShimKind, n: usize) -> Duration {
    let id = format!("true-{kind:?}-{n}").to_lowercase();
    let started = Instant::now();
    let out = ctd.ctr(&["run", "--rm", "--runtime", kind.runtime_type(), "busybox:latest", &id, "/bin/true"]);
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
    let kinds = [ShimKind::Berth, ShimKind::Runc];
    for kind in kinds {
        time_run_rm(&ctd, kind, usize::MAX);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(), Vec::new()];
    for n in 0..rounds {
        for (i, kind) in kinds.iter().enumerate() {
            times[i].push(time_run_rm(&ctd, *kind, n));
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();

    let memory: Vec<(u64, u64, usize)> = kinds.iter().map(|kind| idle_memory(&ctd, *kind, idle)).collect();

    println!();
    println!("| shim | shims for {idle} idle containers | RSS per shim | PSS per shim | `ctr run --rm` /bin/true median ({rounds} rounds) | vs runc shim |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, kind) in kinds.iter().enumerate() {
        let name = match kind {
            ShimKind::Berth => "containerd-shim-berth-v2 + berth",
            ShimKind::Runc => "containerd-shim-runc-v2 + runc",
        };
        let (rss, pss, shims) = memory[i];
        let ratio = medians[i].as_secs_f64() / medians[1].as_secs_f64();
        println!(
            "| {name} | {shims} | {:.1} MiB | {:.1} MiB | {:.1} ms | {ratio:.2}x |",
            rss as f64 / 1024.0,
            pss as f64 / 1024.0,
            medians[i].as_secs_f64() * 1000.0
        );
    }
}
