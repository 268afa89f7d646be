//! `docker save` archives: manifest.json lists each image's config and
//! layer files (`ID/layer.tar` in the legacy form, `blobs/sha256/HEX` since
//! Docker 25). The layers become an OCI manifest in the store.

use serde::Deserialize;

use super::files::{sniff_blob, Files};
use super::{Found, ImportError};
use crate::digest::Digest;
use crate::oci::{self, Descriptor, ImageConfig, Manifest};
use crate::progress::Progress;
use crate::store::Transaction;

/// One image of manifest.json.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The digest a `blobs/sha256/HEX` name promises, checked on ingest.
fn promised(name: &str) -> Option<Digest> {
    Digest::from_hex(name.strip_prefix("blobs/sha256/")?).ok()
}

/// Ingest one named file, checking the digest its name promises.
fn ingest(
    files: &Files,
    txn: &mut Transaction<'_>,
    name: &str,
    progress: &Progress,
) -> Result<(Digest, u64), ImportError> {
    let (digest, size) = files.ingest(txn, name, None, progress)?;
    if let Some(expected) = promised(name) {
        crate::oci::VerifyError::compare(&expected, size, &digest, size)
            .map_err(|mismatch| ImportError::Store(mismatch.into()))?;
    }
    Ok((digest, size))
}

pub(super) fn find(
    files: &Files,
    manifest_json: &[u8],
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    let saved: Vec<SavedImage> = serde_json::from_slice(manifest_json)
        .map_err(ImportError::json(files.source(), "manifest.json"))?;
    let mut found = Vec::new();
    for image in saved {
        // The config, as it is (docker's config is a superset of OCI's).
        let (config_digest, config_size) = ingest(files, txn, &image.config, progress)?;
        let config_descriptor = Descriptor::new(oci::media::OCI_CONFIG, config_digest, config_size);
        let _config: ImageConfig = txn.read_json("config", &config_descriptor)?;
        // The layers, typed by what their bytes are.
        let mut layers = Vec::new();
        for name in &image.layers {
            let (digest, size) = ingest(files, txn, name, progress)?;
            let compression = sniff_blob(&txn.blob_file(&digest)?)?;
            layers.push(Descriptor::new(compression.oci_media_type(), digest, size));
        }
        // An OCI manifest for them.
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::media::OCI_MANIFEST.into()),
            config: config_descriptor,
            layers,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest)
            .map_err(ImportError::json(files.source(), "manifest.json"))?;
        let digest = txn.ingest_bytes(&bytes)?;
        let names = image
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|tag| tag.parse())
            .collect::<Result<_, _>>()
            .map_err(|source| ImportError::BadImageName {
                source_path: files.source().to_path_buf(),
                field: "manifest.json RepoTags",
                source,
            })?;
        found.push(Found {
            names,
            descriptor: Descriptor::new(oci::media::OCI_MANIFEST, digest, bytes.len() as u64),
        });
    }
    Ok(found)
}
