//! `gc`: remove the blobs and unpacked layers no named image (and no live
//! bundle) uses, and staging left by processes that died.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::killpoint;
use crate::oci::{Algorithm, Digest, Index, Manifest};
use crate::store::{unique_name, Store, StoreError};

/// What gc removed.
#[derive(Clone, Copy, Debug, Default)]
pub struct GcReport {
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked layers removed.
    pub layers: usize,
    /// Bytes of blobs freed.
    pub bytes: u64,
}

/// Collect garbage in `store`.
pub fn collect(store: &Store) -> Result<GcReport, StoreError> {
    let lock = store.lock()?;
    // 1. Everything the index reaches.
    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut layers: HashSet<Digest> = HashSet::new();
    for descriptor in store.read_index()?.manifests {
        blobs.insert(descriptor.digest.clone());
        let mut manifests = vec![descriptor.clone()];
        if descriptor.is_index() {
            let index: Index = store.read_json("index", &descriptor)?;
            manifests = index
                .manifests
                .into_iter()
                .filter(|m| store.has_blob(&m.digest))
                .collect();
            blobs.extend(manifests.iter().map(|m| m.digest.clone()));
        }
        for manifest in manifests {
            let manifest: Manifest = store.read_json("manifest", &manifest)?;
            blobs.insert(manifest.config.digest.clone());
            for layer in manifest.layers {
                blobs.insert(layer.digest.clone());
                layers.insert(layer.digest);
            }
        }
    }
    // 2. Layers that live bundles mount.
    for record in store.live_bundles(&lock)? {
        layers.extend(record.layers);
    }
    // 2b. Layers running builds made and have not named yet (dead builds'
    // leases and scratch go here, their mounts first).
    for digest in store.live_build_layers(&lock)? {
        blobs.insert(digest.clone());
        layers.insert(digest);
    }
    let mut report = GcReport::default();
    // 3. Unreferenced blobs.
    for algorithm in Algorithm::ALL {
        let dir = store.root().join("blobs").join(algorithm.name());
        for (name, path) in list(&dir)? {
            if Digest::from_parts(algorithm, &name).is_ok_and(|d| blobs.contains(&d)) {
                continue;
            }
            report.bytes += fs::metadata(&path).map_or(0, |m| m.len());
            fs::remove_file(&path).map_err(StoreError::io("unlink", &path))?;
            report.blobs += 1;
        }
    }
    killpoint::reached("gc:blobs-removed");
    // 4. Unused layers.
    for (name, path) in list(&store.root().join("layers"))? {
        if layers.iter().any(|d| d.hex() == name) {
            continue;
        }
        // Out of layers/ in one rename first: killed half-way through the
        // removal, gc never leaves a partial layer where a bundle would mount it.
        let doomed = store.tmp_path().join(unique_name("gc-layer"));
        fs::rename(&path, &doomed).map_err(StoreError::io("rename", &path))?;
        killpoint::reached("gc:layer-moved");
        crate::layer::remove_path(&doomed).map_err(StoreError::io("remove", &doomed))?;
        report.layers += 1;
    }
    // 5. Staging of processes that are gone (names carry the pid).
    for (name, path) in list(&store.root().join("tmp"))? {
        // unique_name: PREFIX-PID-COUNTER-NANOS (the prefix may hold dashes).
        let pid = name.rsplit('-').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        }) {
            // A build killed before its lease existed may still have mounts here.
            store.remove_scratch(&path)?;
        }
    }
    // 6. The build cache: records and RUN cache mounts are reclaimed (the
    // layers the records named went with step 4 unless an image uses them).
    for dir in ["build-cache", "build-cache-mounts"] {
        let path = store.root().join(dir);
        if path.exists() {
            crate::layer::remove_path(&path).map_err(StoreError::io("remove", &path))?;
        }
    }
    Ok(report)
}

fn list(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, StoreError> {
    let entries = fs::read_dir(dir).map_err(StoreError::io("readdir", dir))?;
    Ok(entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect())
}
