//! The drivers against the real cgroupfs of whatever host runs the tests: the hybrid v1
//! layout on the development machine, pure v2 inside the test VM (tests/vm).
//!
//! Every test makes its own cgroup below THIS process's own cgroup (an unset cgroupsPath),
//! puts a child process in it, and removes both in a Drop guard, also when it fails.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_cgroups::{CgroupRequest, CgroupState, Error, Layout, Manager, UNIFIED_KEY};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A cgroup with a child process in it, destroyed (and the child killed) on drop.
struct Fixture {
    manager: Box<dyn Manager>,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Fixture {
    /// A fresh cgroup `<own cgroup>/berth-cgtest-<pid>-<n>-<name>`, created, with nothing in it.
    fn new(name: &str) -> Fixture {
        Fixture::at(None, name)
    }

    fn at(path: Option<&str>, name: &str) -> Fixture {
        Fixture::make(path, false, name)
    }

    fn make(path: Option<&str>, systemd: bool, name: &str) -> Fixture {
        let id = format!(
            "berth-cgtest-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut manager = berth_cgroups::resolve(&CgroupRequest {
            cgroups_path: path.map(|p| p.replace("{id}", &id)).as_deref(),
            systemd,
            container_id: &id,
        })
        .expect("resolve");
        manager.create().expect("create");
        Fixture {
            manager,
            child: None,
            stdin: None,
            stdout: None,
        }
    }

    /// Start `sh -c script` with piped stdio, and move it into the cgroup. Scripts begin with
    /// `read x` so that they do their work only once `go()` is called, inside the cgroup.
    fn spawn(&mut self, script: &str) -> i32 {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        self.stdin = child.stdin.take();
        self.stdout = child.stdout.take().map(BufReader::new);
        self.child = Some(child);
        self.manager.add_task(pid).expect("add_task");
        pid
    }

    fn go(&mut self) {
        self.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }

    /// All of the child's stdout and stderr, and how it ended.
    fn finish(&mut self) -> (String, String, std::process::ExitStatus) {
        let mut child = self.child.take().unwrap();
        drop(self.stdin.take());
        let mut out = String::new();
        std::io::Read::read_to_string(self.stdout.as_mut().unwrap(), &mut out).unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (out, err, child.wait().unwrap())
    }

    fn apply(&self, resources: serde_json::Value) -> Result<(), Error> {
        let resources: LinuxResources = serde_json::from_value(resources).expect("valid LinuxResources JSON");
        self.manager.apply(&resources)
    }

    fn state(&self) -> CgroupState {
        self.manager.state()
    }

    /// The directory of a controller (v1) or the unified one (v2).
    fn dir(&self, v1_controller: &str) -> PathBuf {
        let state = self.state();
        let key = if state.layout == Layout::V2 { UNIFIED_KEY } else { v1_controller };
        state.paths.get(key).unwrap_or_else(|| panic!("no {key} dir in {state:?}")).clone()
    }

    fn read(&self, v1_controller: &str, file: &str) -> String {
        let path = self.dir(v1_controller).join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_owned()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Signal the child, but reap it only after destroy: a process in a frozen v1 cgroup
        // dies only once destroy has thawed it, so waiting first would hang.
        let mut child = self.child.take();
        if let Some(child) = child.as_mut() {
            let _ = child.kill();
        }
        let destroyed = self.manager.destroy(true);
        if let Some(mut child) = child {
            let _ = child.wait();
        }
        // A child not yet reaped can keep a cgroup busy for a moment: try once more.
        if destroyed.is_err() {
            if let Err(e) = self.manager.destroy(true) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

fn v2() -> bool {
    berth_cgroups::layout().unwrap() == Layout::V2
}

#[test]
fn lifecycle_create_join_freeze_thaw_destroy() {
    let mut fx = Fixture::new("life");
    let pid = fx.spawn("read x; sleep 100");
    // The process is in the cgroup in every hierarchy, the unified one of hybrid too.
    let state = fx.state();
    assert!(!state.paths.is_empty());
    for dir in state.paths.values() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|l| l == pid.to_string()), "{pid} not in {}", dir.display());
    }
    if state.layout == Layout::Hybrid {
        assert!(state.paths.contains_key(UNIFIED_KEY), "hybrid joins the unified hierarchy");
    }
    assert_eq!(fx.manager.pids().unwrap(), vec![pid]);

    fx.manager.freeze().unwrap();
    assert!(fx.manager.is_frozen().unwrap());
    if v2() {
        assert!(fx.read("", "cgroup.events").contains("frozen 1"));
    } else {
        assert_eq!(fx.read("freezer", "freezer.state"), "FROZEN");
    }
    fx.manager.thaw().unwrap();
    assert!(!fx.manager.is_frozen().unwrap());

    // Destroy kills what is left and removes every directory.
    fx.manager.destroy(true).unwrap();
    let status = fx.child.take().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    for dir in state.paths.values() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn a_frozen_process_does_not_run() {
    let mut fx = Fixture::new("frozen");
    // The child counts up once every 10 ms into its stdout; frozen, the count stops.
    fx.spawn("read x; i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done");
    fx.go();
    let mut line = String::new();
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    fx.manager.freeze().unwrap();
    // CPU time (utime + stime) of every process in the cgroup; frozen, it cannot grow.
    let pids = fx.manager.pids().unwrap();
    let ticks = || -> u64 {
        pids.iter()
            .map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
                let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
                field(11) + field(12)
            })
            .sum()
    };
    let t0 = ticks();
    let mut line = String::new();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ticks(), t0, "a frozen process used CPU");
    fx.manager.thaw().unwrap();
    // Thawed, it counts on.
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    assert!(line.trim().parse::<u64>().is_ok(), "{line:?}");
}

#[test]
fn destroy_of_a_frozen_cgroup_kills_and_removes_it() {
    let mut fx = Fixture::new("killfrozen");
    fx.spawn("read x; sleep 100");
    fx.manager.freeze().unwrap();
    let dirs: Vec<PathBuf> = fx.state().paths.values().cloned().collect();
    fx.manager.destroy(true).unwrap();
    assert_eq!(fx.child.take().unwrap().wait().unwrap().signal(), Some(9));
    assert!(dirs.iter().all(|d| !d.exists()));
}

#[test]
fn memory_limits_are_written() {
    let fx = Fixture::new("mem");
    let swap_supported = if v2() {
        fx.dir("").join("memory.swap.max").exists()
    } else {
        fx.dir("memory").join("memory.memsw.limit_in_bytes").exists()
    };
    let mut memory = json!({"limit": 64 << 20, "reservation": 32 << 20});
    if swap_supported {
        memory["swap"] = json!(96 << 20);
    }
    if !v2() {
        memory["swappiness"] = json!(10);
    }
    fx.apply(json!({ "memory": memory })).unwrap();
    if v2() {
        assert_eq!(fx.read("", "memory.max"), (64u64 << 20).to_string());
        assert_eq!(fx.read("", "memory.low"), (32u64 << 20).to_string());
        if swap_supported {
            assert_eq!(fx.read("", "memory.swap.max"), (32u64 << 20).to_string());
        }
        // v2 has no per-cgroup swappiness: refused, naming the field.
        let err = fx.apply(json!({"memory": {"swappiness": 10}})).unwrap_err();
        assert!(err.to_string().contains("linux.resources.memory.swappiness"), "{err}");
    } else {
        assert_eq!(fx.read("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
        assert_eq!(fx.read("memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
        if swap_supported {
            assert_eq!(fx.read("memory", "memory.memsw.limit_in_bytes"), (96u64 << 20).to_string());
        }
        assert_eq!(fx.read("memory", "memory.swappiness"), "10");
    }
    // Unlimited again.
    fx.apply(json!({"memory": {"limit": -1}})).unwrap();
    if v2() {
        assert_eq!(fx.read("", "memory.max"), "max");
    } else {
        assert!(fx.read("memory", "memory.limit_in_bytes").parse::<u64>().unwrap() > 1 << 40);
    }
}

#[test]
fn a_process_over_its_memory_limit_is_oom_killed_and_counted() {
    let mut fx = Fixture::new("oom");
    // Swap equal to the limit (v1 memory+swap) means no swap, where swap is accounted.
    let swap_file = if v2() { ("", "memory.swap.max") } else { ("memory", "memory.memsw.limit_in_bytes") };
    let memory = if fx.dir(swap_file.0).join(swap_file.1).exists() {
        json!({"limit": 16 << 20, "swap": 16 << 20})
    } else {
        json!({"limit": 16 << 20})
    };
    fx.apply(json!({ "memory": memory })).unwrap();
    let mut watcher = berth_cgroups::oom::OomWatcher::new(&fx.state()).unwrap();
    assert!(!watcher.wait(Some(Duration::from_millis(10))).unwrap(), "OOM before anything ran");
    // One process that doubles a string until it no longer fits in 16 MiB (a pipeline could
    // have one of its small members picked by the OOM killer instead).
    fx.spawn("read x; exec awk 'BEGIN { s = \"x\"; while (length(s) < 268435456) s = s s; print \"survived\" }'");
    fx.go();
    let (out, _err, status) = fx.finish();
    assert!(watcher.wait(Some(Duration::from_secs(5))).unwrap(), "the OOM watcher saw nothing");
    assert!(!out.contains("survived"), "no OOM kill: {out}");
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let stats = fx.manager.stats().unwrap();
    if v2() {
        assert!(fx.read("", "memory.events").contains("oom_kill 1"), "{}", fx.read("", "memory.events"));
        assert!(stats.memory.usage.failcnt > 0);
    } else {
        assert!(fx.read("memory", "memory.oom_control").contains("oom_kill 1"));
        // This kernel's v1 failcnt stays 0 on the OOM path; the peak shows the limit was hit.
        assert_eq!(stats.memory.usage.max, 16 << 20, "{:?}", stats.memory.usage);
    }
}

#[test]
fn cpu_limits_are_written_and_shares_become_a_weight_on_v2() {
    let fx = Fixture::new("cpu");
    fx.apply(json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}}))
        .unwrap();
    if v2() {
        assert_eq!(fx.read("", "cpu.weight"), "20");
        assert_eq!(fx.read("", "cpu.max"), "50000 100000");
        assert_eq!(fx.read("", "cpuset.cpus"), "0");
        let err = fx.apply(json!({"cpu": {"realtimeRuntime": 1000}})).unwrap_err();
        assert!(err.to_string().contains("linux.resources.cpu.realtimeRuntime"), "{err}");
    } else {
        assert_eq!(fx.read("cpu", "cpu.shares"), "512");
        assert_eq!(fx.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(fx.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(fx.read("cpuset", "cpuset.cpus"), "0");
        assert_eq!(fx.read("cpuset", "cpuset.mems"), "0");
        fx.apply(json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}})).unwrap();
        assert_eq!(fx.read("cpu", "cpu.rt_runtime_us"), "10000");
        fx.apply(json!({"cpu": {"realtimeRuntime": -1}})).unwrap_err();
    }
    // Burst and idle where the kernel has them.
    let (burst_file, ctl) = if v2() { ("cpu.max.burst", "") } else { ("cpu.cfs_burst_us", "cpu") };
    if fx.dir(ctl).join(burst_file).exists() {
        fx.apply(json!({"cpu": {"burst": 1000}})).unwrap();
        assert_eq!(fx.read(ctl, burst_file), "1000");
    }
    if fx.dir(ctl).join("cpu.idle").exists() {
        fx.apply(json!({"cpu": {"idle": 1}})).unwrap();
        assert_eq!(fx.read(ctl, "cpu.idle"), "1");
    }
}

#[test]
fn a_refused_value_names_the_field_and_the_file() {
    let fx = Fixture::new("refused");
    let err = fx.apply(json!({"cpu": {"cpus": "4096"}})).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("linux.resources.cpu.cpus"), "{msg}");
    assert!(msg.contains("cpuset.cpus"), "{msg}");
    let err = fx.apply(json!({"cpu": {"shares": 1}})).unwrap_err();
    assert!(err.to_string().contains("linux.resources.cpu.shares"), "{err}");
}

#[test]
fn a_pids_limit_makes_fork_fail() {
    let mut fx = Fixture::new("pids");
    fx.apply(json!({"pids": {"limit": 1}})).unwrap();
    assert_eq!(fx.read("pids", "pids.max"), "1");
    fx.spawn("read x; /bin/true && echo forked");
    fx.go();
    let (out, err, _) = fx.finish();
    assert!(!out.contains("forked"), "fork succeeded under pids.max=1");
    assert!(err.to_lowercase().contains("fork"), "stderr: {err}");
    fx.apply(json!({"pids": {"limit": 0}})).unwrap();
    assert_eq!(fx.read("pids", "pids.max"), "max");
}

#[test]
fn device_rules_deny_what_they_do_not_allow() {
    let mut fx = Fixture::new("devices");
    // Deny all, allow /dev/null (c 1:3) read-write, /dev/zero (c 1:5) only for mknod.
    fx.apply(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "m"}
    ]}))
    .unwrap();
    if !v2() {
        let list = fx.read("devices", "devices.list");
        assert_eq!(list.lines().collect::<Vec<_>>(), ["c 1:3 rwm", "c 1:5 m"]);
    }
    fx.spawn(
        "read x; echo a > /dev/null && echo null-ok; \
         if head -c1 /dev/zero > /dev/null; then echo zero-ok; else echo zero-denied; fi",
    );
    fx.go();
    let (out, err, _) = fx.finish();
    assert!(out.contains("null-ok"), "out: {out} err: {err}");
    assert!(out.contains("zero-denied"), "out: {out} err: {err}");
    assert!(err.contains("Operation not permitted"), "err: {err}");

    // An update of a deny-by-default list writes only the difference (v1) or swaps the program (v2).
    let mut fx1 = Fixture::new("devices-update");
    let base = json!({"allow": false, "access": "rwm"});
    fx1.apply(json!({"devices": [base, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]})).unwrap();
    fx1.apply(json!({"devices": [base, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}]})).unwrap();
    if !v2() {
        let list = fx1.read("devices", "devices.list");
        assert_eq!(list.lines().collect::<Vec<_>>(), ["c 1:3 rw", "c 1:7 rwm"]);
    }
    fx1.spawn("read x; head -c1 /dev/full > /dev/null && echo full-ok; head -c1 /dev/zero > /dev/null || echo zero-denied");
    fx1.go();
    let (out, err, _) = fx1.finish();
    assert!(out.contains("full-ok") && out.contains("zero-denied"), "out: {out} err: {err}");

    // Allow-all with one exception, applied over the previous program (replaces it).
    let mut fx2 = Fixture::new("devices2");
    fx2.apply(json!({"devices": [{"allow": false}]})).unwrap();
    fx2.apply(json!({"devices": [
        {"allow": true, "access": "rwm"},
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}
    ]}))
    .unwrap();
    fx2.spawn("read x; head -c1 /dev/zero > /dev/zero && echo zero-ok; cat /dev/null && echo null-read-ok; echo > /dev/null || echo null-write-denied");
    fx2.go();
    let (out, err, _) = fx2.finish();
    assert!(out.contains("zero-ok") && out.contains("null-read-ok") && out.contains("null-write-denied"), "out: {out} err: {err}");
}

#[test]
fn block_io_throttle_is_written_for_a_real_device() {
    let fx = Fixture::new("blkio");
    let Some((major, minor)) = first_block_device() else {
        eprintln!("no block device on this host: only the refusal of a bad device is checked");
        let err = fx.apply(json!({"blockIO": {"throttleReadBpsDevice": [{"major": 9999, "minor": 0, "rate": 1}]}})).unwrap_err();
        assert!(err.to_string().contains("throttleReadBpsDevice"), "{err}");
        return;
    };
    fx.apply(json!({"blockIO": {
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
    }}))
    .unwrap();
    if v2() {
        let max = fx.read("", "io.max");
        assert!(max.contains(&format!("{major}:{minor} rbps=1048576")) && max.contains("wiops=100"), "{max}");
    } else {
        assert_eq!(fx.read("blkio", "blkio.throttle.read_bps_device"), format!("{major}:{minor} 1048576"));
        assert_eq!(fx.read("blkio", "blkio.throttle.write_iops_device"), format!("{major}:{minor} 100"));
    }
}

/// The first disk (not loop, ram or zram) in /sys/block.
fn first_block_device() -> Option<(u32, u32)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    names.sort();
    let dev = std::fs::read_to_string(Path::new("/sys/block").join(names.first()?).join("dev")).ok()?;
    let (major, minor) = dev.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[test]
fn missing_or_v1_only_controllers_are_errors_naming_the_field() {
    let fx = Fixture::new("missing");
    let err = fx.apply(json!({"network": {"classID": 1048577}})).unwrap_err();
    assert!(err.to_string().contains("linux.resources.network.classID"), "{err}");
    if v2() {
        let err = fx.apply(json!({"blockIO": {"leafWeight": 100}})).unwrap_err();
        assert!(err.to_string().contains("leafWeight"), "{err}");
    } else {
        let err = fx.apply(json!({"unified": {"pids.max": "3"}})).unwrap_err();
        assert!(err.to_string().contains("linux.resources.unified"), "{err}");
    }
}

#[test]
fn hugetlb_limits_apply_where_the_controller_is_available() {
    let fx = Fixture::new("hugetlb");
    let result = fx.apply(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    let unified = fx.state().paths.get(UNIFIED_KEY).cloned();
    let available = unified.as_ref().is_some_and(|d| {
        std::fs::read_to_string(d.join("cgroup.controllers")).unwrap_or_default().contains("hugetlb")
    });
    if available {
        result.unwrap();
        assert_eq!(
            std::fs::read_to_string(unified.unwrap().join("hugetlb.2MB.max")).unwrap().trim(),
            "4194304"
        );
    } else {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("hugepageLimits"), "{err}");
    }
    let err = fx.apply(json!({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]})).unwrap_err();
    assert!(err.to_string().contains("pageSize"), "{err}");
}

#[test]
fn unified_keys_are_written_and_cannot_escape_the_cgroup() {
    if !v2() {
        return; // refused on v1; see missing_or_v1_only_controllers_are_errors_naming_the_field
    }
    let fx = Fixture::new("unified");
    fx.apply(json!({"unified": {"pids.max": "7", "memory.high": "33554432"}})).unwrap();
    assert_eq!(fx.read("", "pids.max"), "7");
    assert_eq!(fx.read("", "memory.high"), "33554432");
    for key in ["../pids.max", "pids.max/..", "cgroup.procs", "cgroup.subtree_control", "nokey", ".."] {
        let err = fx.apply(json!({"unified": {key: "1"}})).unwrap_err();
        assert!(matches!(err, Error::BadUnifiedKey { .. }), "{key}: {err}");
    }
}

#[test]
fn stats_report_usage_and_limits() {
    let mut fx = Fixture::new("stats");
    fx.apply(json!({"memory": {"limit": 128 << 20}, "pids": {"limit": 50}})).unwrap();
    fx.spawn("read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; read y");
    fx.go();
    let mut line = String::new();
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "done");
    let stats = fx.manager.stats().unwrap();
    assert_eq!(stats.memory.usage.limit, 128 << 20);
    assert!(stats.memory.usage.usage > 0);
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 50);
    assert!(stats.cpu.usage.total > 0, "{stats:?}");
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["memory"]["usage"]["limit"].is_u64());
    assert!(json["cpu"]["usage"]["total"].is_u64());
}

#[test]
fn a_saved_state_loads_back_into_a_working_manager() {
    let mut fx = Fixture::new("load");
    let pid = fx.spawn("read x; sleep 100");
    let saved = serde_json::to_string(&fx.state()).unwrap();
    let loaded = berth_cgroups::load(&serde_json::from_str(&saved).unwrap()).unwrap();
    assert_eq!(loaded.pids().unwrap(), vec![pid]);
    loaded.freeze().unwrap();
    assert!(fx.manager.is_frozen().unwrap());
    loaded.destroy(true).unwrap();
    assert_eq!(fx.child.take().unwrap().wait().unwrap().signal(), Some(9));
    assert!(fx.state().paths.values().all(|d| !d.exists()));
}

#[test]
fn a_relative_path_nests_below_the_own_cgroup_and_destroy_removes_every_level_made() {
    let fx = Fixture::at(Some("{id}/inner"), "nested");
    let state = fx.state();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for dir in state.paths.values() {
        // <mountpoint><own cgroup>/<id>/inner, and both new levels are recorded as made.
        assert!(dir.ends_with("inner"), "{}", dir.display());
        let outer = dir.parent().unwrap();
        assert!(outer.file_name().unwrap().to_string_lossy().starts_with("berth-cgtest-"));
        assert!(state.created.contains(&dir.to_path_buf()), "{} not recorded", dir.display());
        assert!(state.created.contains(&outer.to_path_buf()), "{} not recorded", outer.display());
        let own_dir = outer.parent().unwrap();
        let mountpoint_relative = own_dir.to_string_lossy().into_owned();
        assert!(
            own.lines().any(|l| {
                let path = l.splitn(3, ':').nth(2).unwrap_or("");
                path == "/" || mountpoint_relative.ends_with(path)
            }),
            "{} is not below one of this process's own cgroups:\n{own}",
            own_dir.display()
        );
    }
    fx.manager.destroy(false).unwrap();
    for dir in &state.created {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn a_bad_cgroups_path_is_refused_before_anything_is_made() {
    let err = berth_cgroups::resolve(&CgroupRequest {
        cgroups_path: Some("a/../../escape"),
        systemd: false,
        container_id: "x",
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("linux.cgroupsPath"), "{err}");
}

#[test]
fn a_frozen_process_does_not_answer_until_thawed() {
    let mut fx = Fixture::new("resume");
    fx.spawn("read x; echo first; read y; echo second");
    fx.go();
    let mut stdout = fx.stdout.take().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "first");
    fx.manager.freeze().unwrap();
    fx.stdin.as_mut().unwrap().write_all(b"y\n").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send(line);
    });
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "a frozen process answered");
    fx.manager.thaw().unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().trim(), "second");
    reader.join().unwrap();
}

#[test]
fn a_create_that_fails_in_a_later_hierarchy_leaves_nothing_behind() {
    // "pids.max" is an interface file of a new pids cgroup only: on v1 and hybrid the
    // hierarchies before pids succeed and pids fails; on v2 it fails at once.
    let id = format!("berth-cgtest-{}-createfail", std::process::id());
    let path = format!("{id}/pids.max");
    let mut manager = berth_cgroups::resolve(&CgroupRequest {
        cgroups_path: Some(&path),
        systemd: false,
        container_id: &id,
    })
    .unwrap();
    let created = manager.create();
    let parents: Vec<PathBuf> = manager.state().paths.values().filter_map(|l| l.parent().map(Path::to_owned)).collect();
    if created.is_ok() {
        let _ = manager.destroy(true);
        for dir in &parents {
            let _ = std::fs::remove_dir(dir);
        }
        panic!("create of {path} succeeded");
    }
    let err = created.unwrap_err();
    assert!(err.to_string().contains("pids.max"), "{err}");
    let leftovers: Vec<&PathBuf> = parents.iter().filter(|dir| dir.exists()).collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn without_systemd_the_systemd_form_nests_its_unit_path_below_the_own_cgroup() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return; // systemd makes the unit: systemd_creates_the_scope_and_berth_limits_it
    }
    let mut fx = Fixture::make(Some("machine-pods.slice:berth:{id}"), true, "sdmap");
    let pid = fx.spawn("read x; sleep 100");
    let state = fx.state();
    assert!(state.systemd_unit.is_none(), "no systemd, no unit");
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for (key, dir) in &state.paths {
        let scope = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(scope.starts_with("berth-berth-cgtest-") && scope.ends_with("-sdmap.scope"), "{scope}");
        let slices = dir.parent().unwrap();
        assert!(slices.ends_with("machine.slice/machine-pods.slice"), "{}", dir.display());
        // The level above the slices is this process's own cgroup in that hierarchy.
        let own_dir = slices.parent().unwrap().parent().unwrap();
        let controller = if key == UNIFIED_KEY { "" } else { key.as_str() };
        let own_path = own
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
                list.split(',').any(|c| c == controller).then_some(path)
            })
            .next()
            .unwrap_or_else(|| panic!("no /proc/self/cgroup line for {key}"));
        if own_path != "/" {
            assert!(own_dir.ends_with(own_path.trim_start_matches('/')), "{} is not below {own_path}", dir.display());
        }
        assert!(std::fs::read_to_string(dir.join("cgroup.procs")).unwrap().contains(&pid.to_string()));
    }
    fx.manager.destroy(true).unwrap();
    assert!(state.created.iter().all(|d| !d.exists()), "left behind: {:?}", state.created);
}

#[test]
fn exec_joins_an_existing_sub_cgroup_and_pids_include_it() {
    let mut fx = Fixture::new("execsub");
    let main_pid = fx.spawn("read x; sleep 100");
    // Make the sub-cgroup in every hierarchy (on v2 a cgroup with processes cannot have
    // children with controllers, but a plain child for process placement is fine).
    let state = fx.state();
    let dirs: Vec<PathBuf> = state.paths.values().map(|d| d.join("sub")).collect();
    let mut unique = dirs.clone();
    unique.sort();
    unique.dedup();
    for dir in &unique {
        std::fs::create_dir(dir).unwrap();
    }
    if let Some(cpuset) = state.paths.get("cpuset") {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            std::fs::write(cpuset.join("sub").join(file), std::fs::read(cpuset.join(file)).unwrap()).unwrap();
        }
    }
    let mut extra = Command::new("sleep").arg("100").spawn().unwrap();
    let extra_pid = extra.id() as i32;
    let result = fx.manager.add_task_to_sub(extra_pid, "sub");
    let err = fx.manager.add_task_to_sub(extra_pid, "nosuch").unwrap_err();
    let bad = fx.manager.add_task_to_sub(extra_pid, "../escape").unwrap_err();
    let mut pids = fx.manager.pids().unwrap_or_default();
    pids.sort();
    let procs = std::fs::read_to_string(dirs[0].join("cgroup.procs")).unwrap_or_default();
    let _ = extra.kill();
    let _ = extra.wait();
    result.unwrap();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(bad.to_string().contains("exec --cgroup"), "{bad}");
    let mut want = vec![main_pid, extra_pid];
    want.sort();
    assert_eq!(pids, want);
    assert!(procs.lines().any(|l| l == extra_pid.to_string()), "{procs}");
}

#[test]
fn block_io_weight_is_converted_on_v2_and_needs_a_weight_scheduler_on_v1() {
    let fx = Fixture::new("ioweight");
    let result = fx.apply(json!({"blockIO": {"weight": 500}}));
    let (ctl, files) = if v2() { ("", ["io.bfq.weight", "io.weight"]) } else { ("blkio", ["blkio.bfq.weight", "blkio.weight"]) };
    let dir = fx.dir(ctl);
    if let Some(file) = files.iter().find(|f| dir.join(f).exists()) {
        result.unwrap();
        let text = fx.read(ctl, file);
        // BFQ takes the v1 weight as is; io.weight gets 1 + (500-10)*9999/990 = 4950.
        let want = if file.contains("bfq") { "500" } else { "4950" };
        assert!(text.lines().any(|l| l.split_whitespace().last() == Some(want)), "{file}: {text}");
    } else {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("linux.resources.blockIO.weight"), "{err}");
    }
}

#[test]
fn rdma_limits_without_such_a_device_or_controller_are_errors_naming_the_field() {
    let fx = Fixture::new("rdma");
    let err = fx.apply(json!({"rdma": {"nosuchdev0": {"hcaHandles": 2, "hcaObjects": 100}}})).unwrap_err();
    assert!(err.to_string().contains("linux.resources.rdma"), "{err}");
    let err = fx.apply(json!({"rdma": {"bad dev": {"hcaHandles": 2}}})).unwrap_err();
    assert!(err.to_string().contains("linux.resources.rdma"), "{err}");
}

/// Set in the re-run of this suite that `the_whole_suite_passes_on_pure_v1_too` starts.
const PURE_V1_RERUN: &str = "BERTH_CGTEST_PURE_V1";

#[test]
fn the_whole_suite_passes_on_pure_v1_too() {
    if std::env::var_os(PURE_V1_RERUN).is_some() {
        // Inside the re-run: the unified mount is gone, so this must be detected as v1.
        assert_eq!(berth_cgroups::layout().unwrap(), Layout::V1);
        return;
    }
    if berth_cgroups::layout().unwrap() != Layout::Hybrid {
        return; // pure v2 (the VM) or pure v1 already: the suite itself covers the layout
    }
    // A private mount namespace without the cgroup2 mount turns hybrid into pure v1 for the
    // re-run only; the host's mounts are untouched.
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", "umount -l /sys/fs/cgroup/unified && exec timeout -s KILL 120 \"$0\" --test-threads=2"])
        .arg(&exe)
        .env(PURE_V1_RERUN, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "pure v1 re-run failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("the_whole_suite_passes_on_pure_v1_too ... ok"), "{stdout}");
}

#[test]
fn check_before_update_refuses_a_limit_below_current_usage() {
    let mut fx = Fixture::new("checkbefore");
    // Memory is charged to the cgroup a process is in when it allocates: allocate ~1 MiB
    // after joining.
    fx.spawn("read x; x=$(head -c 1048576 /dev/zero | tr '\\0' a); echo ready; read y");
    fx.go();
    let mut line = String::new();
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let err = fx.apply(json!({"memory": {"limit": 65536, "checkBeforeUpdate": true}})).unwrap_err();
    assert!(err.to_string().contains("linux.resources.memory.limit"), "{err}");
    assert!(err.to_string().contains("checkBeforeUpdate"), "{err}");
    // Without the check the kernel takes a limit above the usage as usual.
    fx.apply(json!({"memory": {"limit": 64 << 20, "checkBeforeUpdate": true}})).unwrap();
}

#[test]
fn disabling_the_oom_killer_is_written_on_v1_and_refused_on_v2() {
    let fx = Fixture::new("oomkiller");
    let result = fx.apply(json!({"memory": {"limit": 64 << 20, "disableOOMKiller": true}}));
    if v2() {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("linux.resources.memory.disableOOMKiller"), "{err}");
    } else {
        result.unwrap();
        assert!(fx.read("memory", "memory.oom_control").contains("oom_kill_disable 1"));
    }
}

#[test]
fn systemd_creates_the_scope_and_berth_limits_it() {
    if !Path::new("/run/systemd/system").exists() {
        // No systemd here; the systemd VM run (tests/cgroup_v2_vm.rs) runs this for real and
        // checks that it passed rather than returned here.
        eprintln!("systemd is not running: nothing to check");
        return;
    }
    let mut fx = Fixture::make(Some("machine.slice:berth:{id}"), true, "sd");
    // Limits given before the scope exists are applied once it does.
    fx.apply(json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 30}, "devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]}))
    .unwrap();
    assert!(fx.manager.clone_into_fd().is_none());
    let pid = fx.spawn("read x; echo a > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null || echo zero-denied; read y");
    let state = fx.state();
    let unit = state.systemd_unit.clone().expect("the state names the unit");
    assert!(unit.starts_with("berth-berth-cgtest-") && unit.ends_with("-sd.scope"), "{unit}");
    let dir = state.paths.get(UNIFIED_KEY).unwrap().clone();
    assert!(dir.starts_with("/sys/fs/cgroup/machine.slice"), "{}", dir.display());
    assert!(dir.ends_with(&unit));
    assert!(fx.read("", "cgroup.procs").lines().any(|l| l == pid.to_string()));
    assert_eq!(fx.read("", "memory.max"), (64u64 << 20).to_string());
    assert_eq!(fx.read("", "pids.max"), "30");
    fx.go();
    let mut line = String::new();
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "null-ok");
    line.clear();
    fx.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "zero-denied");
    // Updates go straight to the cgroup; a saved state reloads as the systemd driver.
    fx.apply(json!({"pids": {"limit": 40}})).unwrap();
    assert_eq!(fx.read("", "pids.max"), "40");
    let loaded = berth_cgroups::load(&serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap()).unwrap();
    loaded.freeze().unwrap();
    assert!(fx.manager.is_frozen().unwrap());
    loaded.destroy(true).unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(fx.child.take().unwrap().wait().unwrap().signal(), Some(9));
    // Stopping a scope that is gone already is fine.
    fx.manager.destroy(true).unwrap();
}
