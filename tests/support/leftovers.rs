//! Checking that a container left nothing behind: no state directory, no
//! cgroup, no process, no mount.

use std::path::{Path, PathBuf};

use crate::inspect::{host_mounts_under, parse_mountinfo};
use crate::runtime::Runtime;

/// Panics listing whatever `id` (made from the bundle at `bundle_dir`, with
/// cgroup path `cgroup` relative to the caller's own) left behind.
#[track_caller]
pub fn assert_nothing_left(runtime: &Runtime, id: &str, bundle_dir: &Path, cgroup: &str) {
    let mut found = Vec::new();
    let state_dir = runtime.root().join(id);
    if state_dir.exists() {
        found.push(format!("state directory {}", state_dir.display()));
    }
    for dir in cgroup_dirs(cgroup).into_iter().filter(|d| d.exists()) {
        found.push(format!("cgroup {}", dir.display()));
    }
    for pid in processes_in(bundle_dir) {
        found.push(format!(
            "process {pid} rooted or working in {}",
            bundle_dir.display()
        ));
    }
    for mount in host_mounts_under(bundle_dir) {
        found.push(format!("host mount at {}", mount.display()));
    }
    assert!(found.is_empty(), "{id} left behind: {found:#?}");
}

/// Where a cgroup at `relative` to this process's own cgroup lives in each
/// hierarchy this process belongs to (v1 controllers and the v2 tree).
///
/// This matches how runc (and berth) treat a relative or unset cgroupsPath:
/// nested under the caller's cgroup in each hierarchy.
pub fn cgroup_dirs(relative: &str) -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let mounts =
        parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo"));
    let relative = relative.trim_start_matches('/');
    own.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let mount = mounts.iter().find(|m| match controllers {
                "" => m.fstype == "cgroup2",
                list => m.fstype == "cgroup" && list.split(',').all(|c| m.has_super_option(c)),
            })?;
            let own_path = path.trim_start_matches('/');
            Some(Path::new(&mount.mount_point).join(own_path).join(relative))
        })
        .collect()
}

/// Pids whose root or working directory is at or below `dir`.
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            ["root", "cwd"].iter().any(|link| {
                std::fs::read_link(format!("/proc/{pid}/{link}"))
                    .is_ok_and(|target| target.starts_with(dir))
            })
        })
        .collect()
}

/// Lazily detaches a mount this test's container made on the host by mistake.
pub fn detach(mount_point: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(mount_point.as_os_str().as_bytes())?;
    // SAFETY: `path` is a valid NUL-terminated string for the whole call.
    let rc = unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Parent cgroups a container manager makes the first time it starts something and never
/// removes (podman's `libpod_parent/conmon`, dockerd's `docker/buildkit`), in every cgroup
/// hierarchy. Hold one while the manager runs: when the last holder in this test process
/// lets go, the directories that were not there before the first holder are removed again
/// (rmdir, so one still in use stays). A holder taken while the last one is being let go
/// waits for the removal, so no manager of ours is starting meanwhile.
pub struct ManagerCgroups(());

/// Holders alive, and the directories that were absent when the first of them was taken.
static MANAGER_CGROUPS: std::sync::Mutex<(usize, Vec<PathBuf>)> = std::sync::Mutex::new((0, Vec::new()));

impl ManagerCgroups {
    /// Take a holder for the directories at `relative` (outermost first) below each hierarchy.
    pub fn hold(relative: &[&str]) -> ManagerCgroups {
        let mut held = MANAGER_CGROUPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let roots: Vec<PathBuf> = crate::inspect::host_mounts()
            .into_iter()
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
            .map(|m| PathBuf::from(m.mount_point))
            .collect();
        for root in &roots {
            for dir in relative.iter().map(|rel| root.join(rel)) {
                // Absent now: ours to remove at the end (listed once).
                if !dir.exists() && !held.1.contains(&dir) {
                    held.1.push(dir);
                }
            }
        }
        held.0 += 1;
        ManagerCgroups(())
    }
}

impl Drop for ManagerCgroups {
    fn drop(&mut self) {
        let mut held = MANAGER_CGROUPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.0 -= 1;
        if held.0 == 0 {
            for dir in held.1.drain(..).rev() {
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}
