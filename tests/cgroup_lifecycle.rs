//! The container's own cgroup: made before the process runs, nested under
//! the caller's cgroup when cgroupsPath is relative or unset, and removed by
//! delete. (Limits and the v2-only checks live with the cgroups crate.)

use berth_e2e::leftovers::{assert_nothing_left, cgroup_dirs};
use berth_e2e::{fixture, sleeper, Container};
use serde_json::json;

#[track_caller]
fn assert_cgroup_holds(relative: &str, pid: i32) {
    let dirs = cgroup_dirs(relative);
    assert!(
        !dirs.is_empty(),
        "this process belongs to no cgroup hierarchy"
    );
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            dir.display()
        );
    }
}

#[test]
fn unset_cgroups_path_nests_the_id_under_the_callers_cgroup() {
    let (runtime, bundle, container) = sleeper("cg-unset");
    let id = container.id().to_owned();
    container.create(&[]).success();
    // Joined before the process runs: already at `created`.
    assert_cgroup_holds(&id, container.pid());
    container.start().success();
    assert_cgroup_holds(&id, container.pid());
    container.kill(&[], Some("KILL")).success();
    container.wait_for_status("stopped");
    container.delete(&[]).success();
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn relative_cgroups_path_nests_under_the_callers_cgroup() {
    let (runtime, mut bundle, id) = fixture("cg-relative");
    let relative = format!("{id}-rel");
    bundle
        .args(&["sleep", "600"])
        .edit(|c| c["linux"]["cgroupsPath"] = json!(relative));
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["-d"]).success();
    assert_cgroup_holds(&relative, container.pid());
    container.delete(&["--force"]).success();
    assert_nothing_left(&runtime, &id, bundle.path(), &relative);
}

#[test]
fn the_container_sees_its_cgroup_in_proc_self_cgroup() {
    let (runtime, mut bundle, id) = fixture("cg-inside");
    bundle.script("cat /proc/self/cgroup");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    // Every hierarchy line of the caller, with the id appended.
    for line in own.lines() {
        let (prefix, path) = line.rsplit_once(':').unwrap();
        let expected = format!("{prefix}:{}/{id}", path.trim_end_matches('/'));
        assert!(
            outcome.stdout.lines().any(|l| l == expected),
            "{expected} missing:\n{outcome}"
        );
    }
}
