//! Leases of running builds (`STORE/leases/NAME`): a build holds an flock
//! on its lease for as long as it runs and lists in it, one digest a line,
//! every layer it has put into the store and not yet named by an image.
//! gc keeps those layers while the flock is held. A lease nobody holds
//! belongs to a build that died (the kernel drops the flock with the
//! process, even on SIGKILL): gc and the next build unmount and remove that
//! build's scratch directory (`STORE/tmp/NAME`) and the lease.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::{unique_name, Image, Store, StoreError, StoreLock};
use crate::oci::Digest;
use crate::sys;

/// A running build's claim on the store; released (and its record removed) on drop.
pub struct BuildLease {
    file: File,
    path: PathBuf,
    area: PathBuf,
}

impl BuildLease {
    /// The build's scratch directory (under `STORE/tmp`, not created here).
    pub fn area(&self) -> &Path {
        &self.area
    }

    /// Record that the build uses `digest`, a layer it put into the store
    /// or one it found there (the caller holds the store lock, so gc sees
    /// the record before it sees a new layer, and cannot have removed a
    /// found one between the caller's check and this record).
    pub fn hold(&self, lock: &StoreLock, digest: &Digest) -> Result<(), StoreError> {
        self.hold_all(lock, [digest])
    }

    /// [`BuildLease::hold`] for several digests, in one write.
    pub fn hold_all<'d>(
        &self,
        _lock: &StoreLock,
        digests: impl IntoIterator<Item = &'d Digest>,
    ) -> Result<(), StoreError> {
        let lines: String = digests.into_iter().map(|d| format!("{d}\n")).collect();
        (&self.file)
            .write_all(lines.as_bytes())
            .map_err(StoreError::io("write", &self.path))
    }
}

impl Drop for BuildLease {
    fn drop(&mut self) {
        // Removed while still locked: gc never takes a finished lease for a dead one.
        let _ = fs::remove_file(&self.path);
    }
}

impl Store {
    fn leases_path(&self) -> PathBuf {
        self.root().join("leases")
    }

    /// Start a build: reap what dead builds left, then take a fresh lease.
    pub fn begin_build(&self) -> Result<BuildLease, StoreError> {
        let lock = self.lock()?;
        self.live_build_layers(&lock)?;
        let dir = self.leases_path();
        fs::create_dir_all(&dir).map_err(StoreError::io("mkdir", &dir))?;
        let name = unique_name("build");
        let path = dir.join(&name);
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(StoreError::io("create", &path))?;
        // Taken under the store lock: gc never sees this lease unheld.
        sys::lock_exclusive(file.as_fd()).map_err(StoreError::errno("flock", &path))?;
        Ok(BuildLease {
            file,
            path,
            area: self.tmp_path().join(name),
        })
    }

    /// Find the image `name` names for a build, and lease its layers under
    /// the store lock: a `rm` and `gc` of the image while the build runs
    /// leave the layers it stands on in place.
    pub fn resolve_leased(&self, name: &str, lease: &BuildLease) -> Result<Image, StoreError> {
        let lock = self.lock()?;
        let image = self.resolve(name)?;
        if let Some(layer) = image
            .manifest
            .layers
            .iter()
            .find(|l| !self.has_blob(&l.digest))
        {
            return Err(StoreError::MissingBlob {
                digest: layer.digest.clone(),
            });
        }
        let layers = image.manifest.layers.iter().map(|l| &l.digest);
        lease.hold_all(
            &lock,
            std::iter::once(&image.descriptor.digest).chain(layers),
        )?;
        Ok(image)
    }

    /// The layers running builds hold; the leases and scratch directories of
    /// dead builds are removed on the way.
    pub fn live_build_layers(&self, _lock: &StoreLock) -> Result<Vec<Digest>, StoreError> {
        let dir = self.leases_path();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("readdir", &dir)(e)),
        };
        let mut live = Vec::new();
        for entry in entries {
            let entry = entry.map_err(StoreError::io("readdir", &dir))?;
            let path = entry.path();
            let file = match File::open(&path) {
                Ok(file) => file,
                // Its build finished between readdir and open.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("open", &path)(e)),
            };
            let held = !sys::try_lock_exclusive(file.as_fd())
                .map_err(StoreError::errno("flock", &path))?;
            if held {
                // Read through the open file: the build may unlink its lease as it ends.
                let mut text = String::new();
                (&file)
                    .read_to_string(&mut text)
                    .map_err(StoreError::io("read", &path))?;
                // A line cut short by a kill names nothing; the build is alive, so none is.
                live.extend(text.lines().filter_map(|l| l.parse::<Digest>().ok()));
                continue;
            }
            let area = self.tmp_path().join(entry.file_name());
            self.remove_scratch(&area)?;
            fs::remove_file(&path).map_err(StoreError::io("unlink", &path))?;
        }
        Ok(live)
    }

    /// Unmount everything mounted below `area` (deepest first), then remove it.
    pub(crate) fn remove_scratch(&self, area: &Path) -> Result<(), StoreError> {
        for target in mounts_below(area)? {
            sys::unmount(&target, true).map_err(StoreError::errno("umount", &target))?;
        }
        match crate::layer::remove_path(area) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io("remove", area)(e)),
            _ => Ok(()),
        }
    }
}

/// Mount points at or below `dir` in this mount namespace, deepest first.
fn mounts_below(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let info = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(info).map_err(StoreError::io("read", info))?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(berth_runtime::mountinfo::unescape(field)))
        .filter(|target| target.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

