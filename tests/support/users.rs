//! An unprivileged user made for one test: its name starts with `rtuserns` (unique per test
//! process and tag), it gets a subuid/subgid range of its own, a home that doubles as its
//! $XDG_RUNTIME_DIR parent, and a copy of the runtime under test it can execute; it and its
//! ranges are removed on drop, also when the test fails.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::binaries::runtime_under_test;
use crate::{Bundle, Outcome, Runtime, TempDir};
use serde_json::json;

/// An unprivileged user that exists for one test, with a subordinate id range.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub subid_base: u32,
    /// Its $XDG_RUNTIME_DIR and home, owned by it.
    pub home: TempDir,
    /// The runtime binary, copied where the user can run it.
    pub runtime: PathBuf,
}

impl TestUser {
    pub fn new(tag: &str) -> TestUser {
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

    pub fn xdg_runtime_dir(&self) -> PathBuf {
        self.home.path().join("run")
    }

    /// Run the runtime as this user, with only its own environment.
    pub fn berth(&self, args: &[&str], cwd: &Path) -> Outcome {
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
    pub fn bundle(&self, tag: &str, script: &str) -> Bundle {
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

pub fn run(program: &str, args: &[&str]) {
    if let Err(stderr) = retry_locked(program, args) {
        panic!("{program} {args:?}: {stderr}");
    }
}

/// Run a shadow tool, retrying while another one (a parallel test, another helper) holds the
/// lock on /etc/passwd or /etc/subuid.
pub fn retry_locked(program: &str, args: &[&str]) -> Result<(), String> {
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

pub fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown").args(["-R", "-h", &format!("{uid}:{gid}")]).arg(path).status().unwrap();
    assert!(status.success());
}

