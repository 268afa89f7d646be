//! A private containerd for the tests that drive berth through it: Debian's daemon on its own socket, root and state
//! under a temp dir, with berth's shim on its PATH, the busybox image imported, and everything
//! it started (shims included) ended by pid when dropped.

use crate::binaries::newest_built;
use crate::poll::until;
use crate::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The runtime types the shim tests compare: berth's shim and containerd's runc shim (with runc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShimKind {
    Berth,
    Runc,
}

impl ShimKind {
    pub fn runtime_type(self) -> &'static str {
        match self {
            ShimKind::Berth => "io.containerd.berth.v2",
            ShimKind::Runc => "io.containerd.runc.v2",
        }
    }
}

/// The built containerd-shim-berth-v2 (berth's, next to it, is what it runs by default).
pub fn berth_shim_binary() -> PathBuf {
    newest_built("containerd-shim-berth-v2")
        .expect("no containerd-shim-berth-v2: build it with `cargo build -p berth-shim`")
}

pub struct Containerd {
    daemon: Child,
    dir: TempDir,
    pub namespace: String,
}

impl Containerd {
    /// Start containerd with `extra` appended to its config (TOML, version 2), where `{dir}`
    /// stands for the daemon's own temp dir.
    pub fn start(tag: &str, extra: &str) -> Containerd {
        let dir = TempDir::new(tag);
        let d = dir.path().to_owned();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n[grpc]\n  address = \"{sock}\"\n{extra}",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
            extra = extra.replace("{dir}", &d.display().to_string()),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        // containerd finds shims as containerd-shim-<name>-<version> on its PATH.
        let shim_dir = berth_shim_binary().parent().unwrap().to_owned();
        let path = format!("{}:{}", shim_dir.display(), std::env::var("PATH").unwrap_or_default());
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .env("PATH", path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd is installed (tests/run-all.sh installs it)");
        // One namespace per test: containerd puts cgroups at /<namespace>/<id>, and runtimes
        // remove only the directories they made, so tests sharing a parent would race.
        let namespace = format!("berth-e2e-{tag}-{}", std::process::id());
        let me = Containerd { daemon, dir, namespace };
        until(Duration::from_secs(20), || me.ctr(&["version"]).status.success().then_some(()))
            .unwrap_or_else(|| panic!("containerd did not come up; see {}", me.log_path().display()));
        me
    }

    /// Import the busybox example image.
    pub fn import_busybox(&self) {
        let archive = crate::images::busybox_docker_archive(self.dir.path());
        let imported = self.ctr(&["image", "import", archive.to_str().unwrap()]);
        assert!(imported.status.success(), "ctr image import: {}", String::from_utf8_lossy(&imported.stderr));
    }

    /// The daemon's pid (to trace what it and its shims run).
    pub fn pid(&self) -> i32 {
        self.daemon.id() as i32
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("containerd.log")
    }

    /// `ctr` against this daemon in this test's namespace (with a 60 s timeout, then SIGKILL:
    /// `ctr run` passes SIGTERM on to its task, which may ignore it).
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        self.ctr_command_in(&self.namespace, args)
    }

    /// `ctr` in another namespace (k8s.io for the CRI plugin's images and pods).
    pub fn ctr_command_in(&self, namespace: &str, args: &[&str]) -> Command {
        let mut command = Command::new("timeout");
        command.args(["-k", "10", "60", "ctr", "--address"]).arg(self.socket()).args(["-n", namespace]).args(args);
        command
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command(args).stdin(Stdio::null()).output().expect("run ctr")
    }

    /// The STATUS column of `ctr task ls` for task `id` (RUNNING, PAUSED, STOPPED, ...).
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["task", "ls"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find(|l| l.split_whitespace().next() == Some(id)).and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
    }

    /// Pids of the shims this daemon started (they outlive it when a test fails), known by
    /// the daemon address on their command line.
    pub fn shim_pids(&self) -> Vec<i32> {
        let address = self.socket();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_shim = args.first().is_some_and(|a| String::from_utf8_lossy(a).contains("containerd-shim"));
            let ours = args.windows(2).any(|w| w[0] == b"-address" && w[1] == address.as_os_str().as_encoded_bytes());
            if is_shim && ours {
                pids.push(pid);
            }
        }
        pids
    }

    /// Where a shim of this daemon serving task group `id` listens (both shims name it so:
    /// /run/containerd/s/ and the sha256 of <containerd address>/<namespace>/<id>).
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let key = self.socket().join(&self.namespace).join(id);
        let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(key.as_os_str().as_encoded_bytes())?;
            child.wait_with_output()
        });
        let out = out.expect("run sha256sum");
        let hex = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned();
        Path::new("/run/containerd/s").join(hex)
    }

    /// Cgroup directories named after this namespace (containerd's parent /<namespace>).
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let candidate = hierarchy.path().join(&self.namespace);
            if candidate.is_dir() {
                found.push(candidate);
            }
        }
        found
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // End our containerd, then any shim of our namespace a failed test left, by pid.
        signal(self.daemon.id() as i32, libc::SIGTERM);
        let _ = self.daemon.wait();
        for pid in self.shim_pids() {
            signal(pid, libc::SIGKILL);
        }
        for mount in crate::inspect::host_mounts_under(self.dir.path()).into_iter().rev() {
            let _ = crate::leftovers::detach(&mount);
        }
        // The shims' state roots for our namespace (the runc shim leaves its own behind).
        for root in ["/run/containerd/berth", "/run/containerd/runc"] {
            let _ = std::fs::remove_dir(Path::new(root).join(&self.namespace));
        }
        // Child cgroups first (a container a failed test left), then the namespace's own.
        for dir in self.cgroups() {
            for child in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if child.path().is_dir() {
                    let _ = std::fs::remove_dir(child.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Send `sig` to a process this harness started (or that serves its namespace).
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the callers pass
    // pids of processes this test started.
    unsafe { libc::kill(pid, sig) };
}
