//! OCI image layouts (directory or archive) and skopeo `dir:` directories.

use serde::de::DeserializeOwned;

use super::files::Files;
use super::{Found, ImportError};
use crate::oci::layout::{self, LayoutFile};
use crate::oci::{self, Descriptor, Index, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::Transaction;

/// The images an OCI layout's index.json lists, their blobs staged (for an
/// index, only this platform's manifest and its blobs).
pub(super) fn find(
    files: &Files,
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    // 1. A layout version this tool knows.
    LayoutFile::parse(&files.read_small(layout::OCI_LAYOUT_FILE)?).map_err(|source| {
        ImportError::Layout {
            source_path: files.source().to_path_buf(),
            source,
        }
    })?;
    // 2. Each manifest the index names, its blobs staged and its name checked.
    let index: Index = parse(
        files,
        layout::INDEX_FILE,
        &files.read_small(layout::INDEX_FILE)?,
    )?;
    let mut found = Vec::new();
    for descriptor in &index.manifests {
        let names = name_of(files, descriptor)?.into_iter().collect();
        stage_tree(files, txn, descriptor, progress)?;
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

/// The reference a layout gives a manifest: containerd's full image name
/// annotation, else `ref.name`: a full reference, or a bare tag as skopeo
/// `oci:DIR:TAG` and umoci write it, which names the image (`big` is
/// `big:latest`). A name that is not a valid reference is refused.
fn name_of(files: &Files, descriptor: &Descriptor) -> Result<Option<Reference>, ImportError> {
    let (annotation, name) = match descriptor.annotation(oci::ANNOTATION_IMAGE_NAME) {
        Some(name) => (oci::ANNOTATION_IMAGE_NAME, name),
        None => match descriptor.annotation(oci::ANNOTATION_REF_NAME) {
            Some(name) => (oci::ANNOTATION_REF_NAME, name),
            None => return Ok(None),
        },
    };
    name.parse()
        .map(Some)
        .map_err(|source| ImportError::BadImageName {
            source_path: files.source().to_path_buf(),
            field: annotation,
            source,
        })
}

fn blob_name(descriptor: &Descriptor) -> String {
    layout::blob_name(&descriptor.digest)
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
