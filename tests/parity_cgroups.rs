//! Cgroup behaviour from runc's cgroups.bats and update.bats: a frozen cgroup is refused
//! rather than hanging create, a cgroup that already holds processes is used with a warning,
//! `update --memory -1` lifts the limit, and an empty cpuset parent is filled from its own.

use berth_e2e::leftovers::cgroup_dirs;
use berth_e2e::{fixture, Container};
use serde_json::json;
use std::path::PathBuf;

/// Directories this test made in the host's hierarchies: thawed and removed on drop, the
/// deepest first, whatever the test did.
struct OwnCgroups(Vec<PathBuf>);

impl Drop for OwnCgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// This process's directory for `relative` in the hierarchy mounted at /sys/fs/cgroup/`name`.
fn dir_in(name: &str, relative: &str) -> PathBuf {
    cgroup_dirs(relative)
        .into_iter()
        .find(|d| d.starts_with(format!("/sys/fs/cgroup/{name}")))
        .unwrap_or_else(|| panic!("no {name} hierarchy here"))
}

#[test]
fn a_frozen_cgroup_is_refused_instead_of_hanging() {
    // runc's "runc run/create should refuse pre-existing frozen cgroup" (v1 freezer).
    if berth_e2e::binaries::deliberate_difference("runc 1.1 joins a frozen cgroup and waits for its init forever") {
        return;
    }
    let (runtime, mut bundle, id) = fixture("cg-frozen");
    let relative = format!("{id}-frozen");
    let freezer = dir_in("freezer", &relative);
    let _own = OwnCgroups(vec![freezer.clone()]);
    std::fs::create_dir(&freezer).expect("mkdir freezer cgroup");
    std::fs::write(freezer.join("freezer.state"), "FROZEN").expect("freeze it");
    bundle.args(&["true"]).edit(|c| c["linux"]["cgroupsPath"] = json!(relative));
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&["--detach"]);
    outcome.failure();
    assert!(outcome.stderr.contains("unexpectedly frozen"), "{outcome}");
    assert!(!runtime.root().join(&id).exists(), "state left behind");
}

#[test]
fn a_cgroup_that_holds_processes_is_used_with_a_warning() {
    if berth_e2e::binaries::deliberate_difference("runc 1.1 warns on stderr without --log; berth writes the warning as a record") {
        return;
    }
    let (runtime, mut bundle, id) = fixture("cg-shared");
    let relative = format!("{id}-shared");
    bundle.args(&["sleep", "600"]).edit(|c| c["linux"]["cgroupsPath"] = json!(relative));
    let first = Container::new(&runtime, &bundle, &id);
    first.run(&["--detach"]).success();
    let second = Container::new(&runtime, &bundle, &format!("{id}-2"));
    let log = runtime.scratch().join("shared.log");
    let outcome = runtime.exec([
        "--log", log.to_str().unwrap(), "--log-format", "json",
        "run", "--detach", "--bundle", bundle.path().to_str().unwrap(), second.id(),
    ]);
    outcome.success();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("\"level\":\"warning\"") && text.contains("cgroup is not empty"), "{text}");
    // The first container is untouched.
    assert_eq!(first.state()["status"], "running");
}

#[test]
fn update_memory_unlimited_lifts_a_swap_limited_container() {
    let (runtime, mut bundle, id) = fixture("cg-mem-unlimited");
    let relative = format!("{id}-mem");
    let memory = dir_in("memory", &relative);
    if !memory.parent().is_some_and(|p| p.join("memory.memsw.limit_in_bytes").exists()) {
        eprintln!("no swap accounting here: nothing to check");
        return;
    }
    bundle.args(&["sleep", "600"]).edit(|c| {
        c["linux"]["cgroupsPath"] = json!(relative);
        c["linux"]["resources"]["memory"] = json!({ "limit": 268435456, "swap": 536870912 });
    });
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    runtime.exec(["update", "--memory", "-1", &id]).success();
    let limit: u64 = std::fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap().trim().parse().unwrap();
    assert!(limit > 1 << 60, "memory limit still {limit}");
}

#[test]
fn an_empty_cpuset_parent_is_filled_from_its_own_parent() {
    let (runtime, mut bundle, id) = fixture("cg-cpuset");
    let parent_rel = format!("{id}-cpuset");
    let parent = dir_in("cpuset", &parent_rel);
    // Made by "a manager" that never set cpus or mems: both start empty in v1.
    std::fs::create_dir(&parent).expect("mkdir cpuset parent");
    // Every level in every hierarchy, children first on drop (runc leaves the parents it
    // made behind).
    let _own = OwnCgroups(cgroup_dirs(&parent_rel).into_iter().flat_map(|d| [d.clone(), d.join("child")]).collect());
    assert!(std::fs::read_to_string(parent.join("cpuset.cpus")).unwrap().trim().is_empty());
    bundle.args(&["true"]).edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{parent_rel}/child")));
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&[]).success();
}

#[test]
fn device_access_letters_beyond_rwm_are_ignored_as_runc_does() {
    // Managers send access strings such as "rwa"; runc keeps the r, w and m in them.
    let (runtime, mut bundle, id) = fixture("cg-dev-rwa");
    bundle.script("head -c 1 /dev/null && echo null-ok");
    bundle.edit(|c| {
        c["linux"]["resources"]["devices"] = json!([
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa" }
        ]);
    });
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert!(outcome.stdout.contains("null-ok"), "{outcome}");
}
