//! The build cache: a record per step, named by a key that chains the
//! parent's key, the instruction as planned (variables substituted) and a
//! checksum of the files it reads (contents and metadata, not times). A
//! record names the layer the step made; it is only trusted while that
//! layer's blob and directory are in the store, so `gc` reclaiming a layer
//! is also what expires the records that use it.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::snapshot::LayerRef;
use crate::store::{BuildLease, Store, StoreError};

/// One cached step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The layer it made (none for config-only steps).
    pub layer: Option<LayerRef>,
    /// When it was first built (RFC 3339): history and image times come
    /// from here, so an unchanged rebuild makes the same image.
    pub created: String,
}

/// The cache of a store.
pub struct Cache {
    dir: PathBuf,
    enabled: bool,
}

/// A cache key being built.
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// Start from the parent's key (or a base's identity).
    pub fn new(parent: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(parent.as_bytes());
        hasher.update([0]);
        KeyBuilder(hasher)
    }

    /// Add a field.
    pub fn field(&mut self, value: &str) -> &mut Self {
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
        self
    }

    /// The hasher, for checksums of files.
    pub fn hasher(&mut self) -> &mut Sha256 {
        &mut self.0
    }

    /// The key.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// The cache of `store`; disabled: lookups miss (records are still written).
    pub fn open(store: &Store, enabled: bool) -> Self {
        let dir = store.root().join("build-cache");
        Cache { dir, enabled }
    }

    /// The record for `key`, if its layer is still stored; the layer is
    /// then leased, checked and leased under the store lock, so a gc
    /// cannot take it from the build between the two.
    pub fn get(
        &self,
        store: &Store,
        lease: &BuildLease,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        if !self.enabled {
            return Ok(None);
        }
        let path = self.dir.join(key);
        let Some(record) = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        else {
            return Ok(None);
        };
        if let Some(layer) = &record.layer {
            let lock = store.lock()?;
            if !store.has_blob(&layer.digest) || !store.layer_path(&layer.digest).is_dir() {
                let _ = fs::remove_file(&path);
                return Ok(None);
            }
            lease.hold(&lock, &layer.digest)?;
        }
        Ok(Some(record))
    }

    /// Remember `record` for `key`.
    pub fn put(&self, key: &str, record: &Record) {
        let _ = fs::create_dir_all(&self.dir);
        let path = self.dir.join(key);
        let tmp = self.dir.join(format!(".{key}.{}", std::process::id()));
        if let Ok(bytes) = serde_json::to_vec(record) {
            if fs::write(&tmp, bytes).is_ok() {
                let _ = fs::rename(&tmp, &path);
            }
        }
    }
}
