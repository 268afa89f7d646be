//! RUN: the command executes through the berth runtime binary (its
//! runc-compatible CLI) in a bundle whose rootfs is the stage's overlay.
//! What the container sees follows BuildKit: Docker's default capability
//! set, the host network unless `--network=none`, hostname
//! `buildkitsandbox`, the RUN mounts; mount points the runtime had to create
//! are removed again so they do not end up in the layer.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use super::plan::{Network, RunStep};
use super::BuildError;
use crate::bundle::spec::{self, SpecInputs};
use crate::bundle::{user, BundleOptions};
use crate::oci::ExecConfig;
use crate::sys::{self, OFlag, Resolve};

/// Docker's default capabilities (what RUN gets under BuildKit and buildah).
const CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// An extra mount of a RUN, prepared on the host.
#[derive(Clone, Debug)]
pub struct HostMount {
    /// Absolute path in the container.
    pub destination: String,
    /// Host path (bind) or "tmpfs".
    pub source: PathBuf,
    /// tmpfs instead of a bind.
    pub tmpfs: bool,
    /// Read-only.
    pub read_only: bool,
    /// Extra options (tmpfs size).
    pub options: Vec<String>,
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Whether `path` exists inside `root` (resolved as the container would).
fn exists_in(root: &Path, path: &str) -> bool {
    let Ok(fd) = sys::open_dir(root) else {
        return false;
    };
    sys::open_below(
        fd.as_fd(),
        Path::new(path.trim_start_matches('/')),
        OFlag::O_PATH,
        Resolve::InRoot,
    )
    .is_ok()
}

/// How RUN output is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Passed through.
    Show,
    /// Kept, printed only when the command fails.
    OnFailure,
}

/// Run `step` in `rootfs` (the merged overlay), with `upper` its upper directory.
#[allow(clippy::too_many_arguments)]
pub fn run(
    runtime: &Path,
    rootfs: &Path,
    upper: &Path,
    area: &Path,
    step: &RunStep,
    mounts: &[HostMount],
    output: Output,
) -> Result<(), BuildError> {
    // 1. The user, from the image's own passwd and group files.
    let root_fd = sys::open_dir(rootfs).map_err(|e| BuildError::io_errno("open", rootfs, e))?;
    let who = user::resolve(root_fd.as_fd(), &step.user).map_err(|e| BuildError::Run {
        message: e.to_string(),
    })?;
    // 2. config.json: the bundle default, then BuildKit's RUN environment.
    let exec = ExecConfig {
        env: Some(step.env.clone()),
        working_dir: Some(step.cwd.clone()),
        ..ExecConfig::default()
    };
    let inputs = SpecInputs {
        image: &exec,
        user: &who,
        volume_sources: &[],
        image_name: "build",
        extra_annotations: &[],
    };
    let options = BundleOptions {
        args: Some(step.args.clone()),
        ..BundleOptions::default()
    };
    let mut config = spec::build(&inputs, &options).map_err(|e| BuildError::Run {
        message: e.to_string(),
    })?;
    config["root"] = json!({ "path": rootfs, "readonly": false });
    config["hostname"] = json!("buildkitsandbox");
    config["process"]["noNewPrivileges"] = json!(false);
    config["process"]["capabilities"] = json!({
        "bounding": CAPABILITIES, "effective": CAPABILITIES, "permitted": CAPABILITIES,
    });
    // HOME stays as the bundle default sets it (the user's home), as runc does under BuildKit.
    let mut extra: Vec<HostMount> = mounts.to_vec();
    if step.network == Network::Host {
        if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|n| n["type"] != "network");
        }
        let hosts = area.join("hosts");
        fs::write(
            &hosts,
            "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        .map_err(|e| BuildError::io("write", &hosts, e))?;
        extra.push(HostMount {
            destination: "/etc/hosts".into(),
            source: hosts,
            tmpfs: false,
            read_only: true,
            options: vec![],
        });
        if Path::new("/etc/resolv.conf").exists() {
            let resolv = area.join("resolv.conf");
            fs::copy("/etc/resolv.conf", &resolv)
                .map_err(|e| BuildError::io("copy", &resolv, e))?;
            extra.push(HostMount {
                destination: "/etc/resolv.conf".into(),
                source: resolv,
                tmpfs: false,
                read_only: true,
                options: vec![],
            });
        }
    }
    let spec_mounts = config["mounts"]
        .as_array_mut()
        .expect("the template has mounts");
    for m in &extra {
        spec_mounts.push(mount_json(m));
    }
    // 3. Which mount points exist before, so stubs the runtime makes can go.
    let stubs: Vec<String> = config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["destination"].as_str().map(str::to_string))
        .chain(std::iter::once(step.cwd.clone()))
        .filter(|d| d != "/" && !exists_in(rootfs, d))
        .collect();
    let bundle = area.join("bundle");
    fs::create_dir_all(&bundle).map_err(|e| BuildError::io("mkdir", &bundle, e))?;
    let config_path = bundle.join("config.json");
    fs::write(
        &config_path,
        serde_json::to_vec(&config).unwrap_or_default(),
    )
    .map_err(|e| BuildError::io("write", &config_path, e))?;
    // 4. berth run, waiting for the command.
    let id = format!(
        "berth-build-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let state = area.join("state");
    let mut command = Command::new(runtime);
    command
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null());
    let result = match output {
        Output::Show => command.status().map(|s| (s, Vec::new())),
        Output::OnFailure => command
            .output()
            .map(|o| (o.status, [o.stdout, o.stderr].concat())),
    };
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    let (status, captured) = result.map_err(|e| BuildError::io("run", runtime, e))?;
    // 5. Mount stubs out of the layer (only if empty: a RUN may have written there).
    for stub in &stubs {
        remove_stub(upper, stub);
    }
    if !status.success() {
        return Err(BuildError::RunFailed {
            command: step.args.join(" "),
            code: status.code().unwrap_or(-1),
            output: captured,
        });
    }
    Ok(())
}

fn mount_json(m: &HostMount) -> Value {
    if m.tmpfs {
        let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
        options.extend(m.options.iter().cloned());
        return json!({ "destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options });
    }
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if m.read_only {
        options.push("ro".into());
    }
    json!({ "destination": m.destination, "type": "bind", "source": m.source, "options": options })
}

/// Remove an empty file or directory the runtime created at `stub` in the
/// upper directory, and then its parents while they are empty and new.
fn remove_stub(upper: &Path, stub: &str) {
    let mut rel = PathBuf::from(stub.trim_start_matches('/'));
    loop {
        if rel.as_os_str().is_empty() {
            return;
        }
        let path = upper.join(&rel);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return;
        };
        let removed = if meta.is_dir() {
            // Only a directory the overlay created (an opaque-free new dir) that is empty.
            fs::remove_dir(&path).is_ok()
        } else if meta.is_file() && meta.len() == 0 {
            fs::remove_file(&path).is_ok()
        } else {
            false
        };
        if !removed {
            return;
        }
        if !rel.pop() {
            return;
        }
    }
}

/// The build's runtime binary: `$BERTH_RUNTIME`, then `berth` beside this
/// executable, then on PATH.
pub fn find_runtime() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_RUNTIME") {
        return PathBuf::from(path);
    }
    if let Ok(exe) = std::env::current_exe() {
        let sibling = exe.with_file_name("berth");
        if sibling.is_file() {
            return sibling;
        }
    }
    PathBuf::from("berth")
}

/// An io::Error from an errno.
pub fn errno_to_io(errno: sys::Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}
