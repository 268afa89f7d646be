//! OCI image layouts (directory or archive) and skopeo `dir:` directories.

use serde::de::DeserializeOwned;

use super::files::Files;
use super::{Found, ImportError};
use crate::oci::{self, Descriptor, Index, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::Transaction;

/// containerd's and Docker's annotation with the full image name.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// The images an OCI layout's index.json lists, their blobs staged (for an
/// index, only this platform's manifest and its blobs).
pub(super) fn find(
    files: &Files,
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    let index: Index = parse(files, "index.json", &files.read_small("index.json")?)?;
    let mut found = Vec::new();
    for descriptor in &index.manifests {
        stage_tree(files, txn, descriptor, progress)?;
        let names = name_of(descriptor).into_iter().collect();
        let mut clean = descriptor.clone();
        clean.annotations = None;
        clean.platform = None;
        found.push(Found {
            names,
            descriptor: clean,
        });
    }
    Ok(found)
}

/// The reference a layout gives a manifest: the full image name annotation,
/// else `ref.name` when it is a full reference (a bare tag names nothing).
fn name_of(descriptor: &Descriptor) -> Option<Reference> {
    if let Some(name) = descriptor.annotation(ANNOTATION_IMAGE_NAME) {
        return name.parse().ok();
    }
    let name = descriptor.annotation(oci::ANNOTATION_REF_NAME)?;
    if name.contains([':', '/']) {
        name.parse().ok()
    } else {
        None
    }
}

fn blob_name(descriptor: &Descriptor) -> String {
    format!("blobs/sha256/{}", descriptor.digest.hex())
}

fn parse<T: DeserializeOwned>(files: &Files, name: &str, bytes: &[u8]) -> Result<T, ImportError> {
    serde_json::from_slice(bytes).map_err(ImportError::json(files.source(), name))
}

/// Stage a manifest or index and what it needs.
fn stage_tree(
    files: &Files,
    txn: &mut Transaction<'_>,
    descriptor: &Descriptor,
    progress: &Progress,
) -> Result<(), ImportError> {
    let name = blob_name(descriptor);
    files.ingest(
        txn,
        &name,
        Some((&descriptor.digest, descriptor.size)),
        progress,
    )?;
    if descriptor.is_index() {
        let index: Index = txn.read_json("index", descriptor)?;
        let arch = oci::host_architecture();
        let picked = index
            .pick_platform()
            .ok_or(crate::store::StoreError::NoPlatform {
                digest: descriptor.digest.clone(),
                arch,
            })?;
        return stage_tree(files, txn, picked, progress);
    }
    let manifest: Manifest = txn.read_json("manifest", descriptor)?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        files.ingest(
            txn,
            &blob_name(blob),
            Some((&blob.digest, blob.size)),
            progress,
        )?;
    }
    Ok(())
}

/// A skopeo `dir:` directory: manifest.json is the image manifest and the
/// blobs are files named by their hex digest.
pub(super) fn find_skopeo_dir(
    files: &Files,
    manifest_bytes: &[u8],
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    let manifest: Manifest = parse(files, "manifest.json", manifest_bytes)?;
    let digest = txn.ingest_bytes(manifest_bytes)?;
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| oci::media::OCI_MANIFEST.to_string());
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        files.ingest(
            txn,
            blob.digest.hex(),
            Some((&blob.digest, blob.size)),
            progress,
        )?;
    }
    let descriptor = Descriptor::new(&media_type, digest, manifest_bytes.len() as u64);
    Ok(vec![Found {
        names: vec![],
        descriptor,
    }])
}
