//! What a container's cgroup costs berth on this host: create + destroy with and without
//! limits, moving a process in, and one `events --stats` read.
//!
//! `cargo bench -p berth-cgroups`. Every cgroup is made below this process's own cgroup and
//! removed in the same iteration.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_cgroups::{CgroupRequest, Manager};
use criterion::{criterion_group, criterion_main, Criterion};
use oci_spec::runtime::LinuxResources;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn manager() -> Box<dyn Manager> {
    let id = format!("berth-cgbench-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    berth_cgroups::resolve(&CgroupRequest {
        cgroups_path: None,
        systemd: false,
        container_id: &id,
    })
    .expect("resolve")
}

fn limits() -> LinuxResources {
    serde_json::from_value(serde_json::json!({
        "memory": {"limit": 268435456},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 100},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"}
        ]
    }))
    .expect("limits JSON")
}

struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(c: &mut Criterion) {
    let resources = limits();
    c.bench_function("create+destroy", |b| {
        b.iter(|| {
            let mut m = manager();
            m.create().unwrap();
            m.destroy(false).unwrap();
        })
    });
    c.bench_function("create+apply(limits, devices)+destroy", |b| {
        b.iter(|| {
            let mut m = manager();
            m.create().unwrap();
            m.apply(&resources).unwrap();
            m.destroy(false).unwrap();
        })
    });
    // One long-lived process moved back and forth between two cgroups.
    let mut a = manager();
    let mut b_cg = manager();
    a.create().unwrap();
    b_cg.create().unwrap();
    let sleeper = Sleeper(Command::new("sleep").arg("1000").spawn().unwrap());
    let pid = sleeper.0.id() as i32;
    c.bench_function("add_task (every hierarchy)", |bench| {
        let mut flip = false;
        bench.iter(|| {
            flip = !flip;
            if flip { a.add_task(pid) } else { b_cg.add_task(pid) }.unwrap();
        })
    });
    a.apply(&resources).unwrap();
    a.add_task(pid).unwrap();
    c.bench_function("stats", |bench| bench.iter(|| a.stats().unwrap()));
    drop(sleeper);
    a.destroy(true).unwrap();
    b_cg.destroy(true).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
