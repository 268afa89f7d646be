//! berth run by an unprivileged user: a user made for the test (name prefixed `rtuserns`,
//! with subuid/subgid ranges, removed on drop, also when the test fails), state under its
//! $XDG_RUNTIME_DIR, `spec --rootless`, newuidmap/newgidmap for more than its own id, no
//! cgroup when none is delegated, and a one-line error naming the privilege limits need.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::binaries::{deliberate_difference, runtime_under_test};
use berth_e2e::{Bundle, Outcome, Runtime, TempDir};
use serde_json::json;

/// An unprivileged user that exists for one test, with a subordinate id range.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    subid_base: u32,
    /// Its $XDG_RUNTIME_DIR and home, owned by it.
    home: TempDir,
    /// The runtime binary, copied where the user can run it.
    runtime: PathBuf,
}

impl TestUser {
    fn new(tag: &str) -> TestUser {
        let name = format!("rtuserns{}{}", tag, std::process::id() % 100_000);
        let home = TempDir::new(&format!("rootless-{tag}"));
        run("useradd", &["--no-create-home", "--home-dir", &home.path().display().to_string(), "--shell", "/bin/sh", &name]);
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("run id");
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        // A range of its own, away from other tests' (100000..) and from other users'.
        let subid_base = 400_000 + (std::process::id() % 1000) * 70_000 % 4_000_000 + tag.len() as u32 * 100_000;
        let range = format!("{subid_base}-{}", subid_base + 65_535);
        let mut user = TestUser { name, uid, gid, subid_base, home, runtime: PathBuf::new() };
        run("usermod", &["--add-subuids", &range, "--add-subgids", &range, &user.name]);
        chown(user.home.path(), uid, gid);
        std::fs::set_permissions(user.home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        // The runtime from target/ may sit in a directory the user cannot reach.
        let bin = TempDir::new("rootless-bin");
        user.runtime = bin.path().join("runtime");
        std::fs::copy(runtime_under_test(), &user.runtime).unwrap();
        std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::mem::forget(bin); // removed with the user (see Drop), after its last run
        user
    }

    fn xdg_runtime_dir(&self) -> PathBuf {
        self.home.path().join("run")
    }

    /// Run the runtime as this user, with only its own environment.
    fn berth(&self, args: &[&str], cwd: &Path) -> Outcome {
        let xdg = self.xdg_runtime_dir();
        if !xdg.exists() {
            std::fs::create_dir(&xdg).unwrap();
            chown(&xdg, self.uid, self.gid);
            std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut command = Command::new(&self.runtime);
        command
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", &xdg)
            .uid(self.uid)
            .gid(self.gid);
        Runtime::under_test().exec_command(command)
    }

    /// A copy of the example bundle owned by the user, with `spec --rootless`'s config
    /// (made by the user) and `script` as its process.
    fn bundle(&self, tag: &str, script: &str) -> Bundle {
        let mut bundle = Bundle::busybox(tag);
        std::fs::remove_file(bundle.path().join("config.json")).unwrap();
        chown_tree(bundle.path(), self.uid, self.gid);
        self.berth(&["spec", "--rootless"], bundle.path()).success();
        let text = std::fs::read_to_string(bundle.path().join("config.json")).unwrap();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        bundle.edit(|c| *c = config);
        bundle.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(["sh", "-c", script]);
        });
        chown_tree(bundle.path(), self.uid, self.gid);
        bundle
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // The user's containers ran in the foreground and are gone; remove its ranges and it.
        let range = format!("{}-{}", self.subid_base, self.subid_base + 65_535);
        let _ = retry_locked("usermod", &["--del-subuids", &range, "--del-subgids", &range, &self.name]);
        let _ = retry_locked("userdel", &["-f", &self.name]);
        if let Some(bin) = self.runtime.parent() {
            let _ = std::fs::remove_dir_all(bin);
        }
    }
}

fn run(program: &str, args: &[&str]) {
    if let Err(stderr) = retry_locked(program, args) {
        panic!("{program} {args:?}: {stderr}");
    }
}

/// Run a shadow tool, retrying while another one (a parallel test, another helper) holds the
/// lock on /etc/passwd or /etc/subuid.
fn retry_locked(program: &str, args: &[&str]) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..50 {
        let out = Command::new(program).args(args).output().map_err(|e| format!("run {program}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        if !last.contains("lock") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(last)
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown").args(["-R", "-h", &format!("{uid}:{gid}")]).arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_unprivileged_user_runs_a_container_with_state_under_xdg_runtime_dir() {
    let user = TestUser::new("a");
    let bundle = user.bundle("rootless-run", "id -u; id -g; cat /proc/self/uid_map; ls /sys/class/net | grep -c .");
    let id = "rootless-run";
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), id], bundle.path());
    outcome.success();
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "root of its user namespace:\n{outcome}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", &user.uid.to_string(), "1"], "{outcome}");
    // The template keeps the host's network (no netns) and binds /sys: the host's interfaces.
    assert_ne!(lines[3], "0", "{outcome}");
    if !deliberate_difference("runc keeps its state in $XDG_RUNTIME_DIR/runc") {
        assert!(user.xdg_runtime_dir().join("berth").is_dir(), "no state root under $XDG_RUNTIME_DIR");
        assert!(!user.xdg_runtime_dir().join("berth").join(id).exists(), "the container's state was left behind");
    }
}

#[test]
fn the_rootless_template_is_runcs() {
    let user = TestUser::new("b");
    let dir = user.home.path().join("spec");
    std::fs::create_dir(&dir).unwrap();
    chown(&dir, user.uid, user.gid);
    user.berth(&["spec", "--rootless"], &dir).success();
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let namespaces: Vec<&str> = config["linux"]["namespaces"].as_array().unwrap().iter().filter_map(|n| n["type"].as_str()).collect();
    assert!(namespaces.contains(&"user") && !namespaces.contains(&"network"), "{namespaces:?}");
    assert_eq!(config["linux"]["uidMappings"], json!([{ "containerID": 0, "hostID": user.uid, "size": 1 }]));
    assert_eq!(config["linux"]["gidMappings"], json!([{ "containerID": 0, "hostID": user.gid, "size": 1 }]));
    assert!(config["linux"]["resources"].is_null() || config["linux"]["resources"].get("devices").is_some(), "{config}");
    let sys = config["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").expect("a /sys mount");
    assert!(sys["options"].as_array().unwrap().contains(&json!("rbind")), "{sys}");
    assert!(!config.to_string().contains("gid=5"), "uid=/gid= options need ids the one-id map lacks");
}

#[test]
fn newuidmap_maps_the_users_subordinate_ids() {
    let user = TestUser::new("c");
    let mut bundle = user.bundle("rootless-subids", "cat /proc/self/uid_map /proc/self/gid_map; id -u");
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            { "containerID": 0, "hostID": user.uid, "size": 1 },
            { "containerID": 1, "hostID": user.subid_base, "size": 65536 }
        ]);
        c["linux"]["gidMappings"] = json!([
            { "containerID": 0, "hostID": user.gid, "size": 1 },
            { "containerID": 1, "hostID": user.subid_base, "size": 65536 }
        ]);
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    });
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-subids"], bundle.path());
    outcome.success();
    let lines: Vec<Vec<&str>> = outcome.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    let (uid, base) = (user.uid.to_string(), user.subid_base.to_string());
    assert_eq!(lines[0], ["0", uid.as_str(), "1"], "{outcome}");
    assert_eq!(lines[1], ["1", base.as_str(), "65536"], "{outcome}");
    assert_eq!(lines[4], ["1000"], "a subordinate id runs the process:\n{outcome}");
}

#[test]
fn limits_without_a_delegated_cgroup_are_refused_naming_the_privilege() {
    let user = TestUser::new("d");
    let mut bundle = user.bundle("rootless-limits", "true");
    bundle.edit(|c| c["linux"]["resources"] = json!({ "pids": { "limit": 10 } }));
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-limits"], bundle.path());
    outcome.failure();
    if !deliberate_difference("runc's message does not name the missing delegation") {
        outcome.one_line_error_naming(&["linux.resources", "delegated cgroup"]);
        let state = user.xdg_runtime_dir().join("berth");
        assert!(!state.join("rootless-limits").exists(), "a refused container left its state");
    }
}

#[test]
fn mappings_beyond_the_users_ranges_are_refused_by_newuidmap() {
    let user = TestUser::new("e");
    let mut bundle = user.bundle("rootless-badmap", "true");
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    });
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-badmap"], bundle.path());
    outcome.failure();
    if !deliberate_difference("runc's message differs") {
        outcome.one_line_error_naming(&["linux.uidMappings", "newuidmap"]);
        assert!(!user.xdg_runtime_dir().join("berth/rootless-badmap").exists(), "a refused container left its state");
    }
}
