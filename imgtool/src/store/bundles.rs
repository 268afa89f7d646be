//! The store's records of live bundles (`STORE/bundles/HEX`, HEX the sha256
//! of the bundle's path): which layers each bundle mounts, so gc keeps them.
//!
//! A record is written, under the store lock, before the bundle mounts
//! anything, and removed after the bundle is gone; a record whose bundle
//! directory no longer exists is stale and dropped by gc. A record that
//! cannot be read stops gc: deleting layers a bundle may mount is never a
//! guess.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreLock};
use crate::oci::Digest;

/// What a bundle uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleRecord {
    /// The bundle directory (absolute).
    pub dir: PathBuf,
    /// The image's manifest digest.
    pub image: Digest,
    /// The layers its overlay mounts (empty for a copy).
    pub layers: Vec<Digest>,
}

impl Store {
    fn bundle_record_path(&self, dir: &Path) -> PathBuf {
        let key = Digest::of_bytes(dir.as_os_str().as_encoded_bytes());
        self.bundles_path().join(key.hex())
    }

    /// Record a bundle (before it mounts anything; the caller holds the lock
    /// so gc cannot run between its layer check and this record).
    pub fn record_bundle(
        &self,
        _lock: &StoreLock,
        record: &BundleRecord,
    ) -> Result<(), StoreError> {
        let path = self.bundle_record_path(&record.dir);
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::BundleRecord {
            path: path.clone(),
            source,
        })?;
        self.write_atomic(&path, &bytes)
    }

    /// Drop the record of the bundle at `dir` (gone already); absent is fine.
    pub fn forget_bundle(&self, dir: &Path) -> Result<(), StoreError> {
        let path = self.bundle_record_path(dir);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::io("unlink", &path)(e))
            }
            _ => Ok(()),
        }
    }

    /// The records of bundles whose directories exist; stale ones are
    /// removed. Any record that cannot be read is an error.
    pub fn live_bundles(&self, _lock: &StoreLock) -> Result<Vec<BundleRecord>, StoreError> {
        let dir = self.bundles_path();
        let entries = fs::read_dir(&dir).map_err(StoreError::io("readdir", &dir))?;
        let mut live = Vec::new();
        for entry in entries {
            let path = entry.map_err(StoreError::io("readdir", &dir))?.path();
            let bytes = fs::read(&path).map_err(StoreError::io("read", &path))?;
            let record: BundleRecord =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::BundleRecord {
                    path: path.clone(),
                    source,
                })?;
            match fs::symlink_metadata(&record.dir) {
                Ok(_) => live.push(record),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::remove_file(&path).map_err(StoreError::io("unlink", &path))?;
                }
                Err(e) => return Err(StoreError::io("stat", &record.dir)(e)),
            }
        }
        Ok(live)
    }
}
