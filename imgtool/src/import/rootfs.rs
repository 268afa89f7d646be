//! A plain rootfs tar (optionally compressed) as a one-layer image, like
//! `docker import`.

use std::fs::File;
use std::path::Path;

use super::files::{diff_id, sniff_blob};
use super::{Found, ImportError};
use crate::oci::Compression;
use crate::oci::{self, Descriptor, ExecConfig, History, ImageConfig, Manifest, RootFs};
use crate::progress::Progress;
use crate::store::Transaction;

pub(super) fn find(
    source: &Path,
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    // 1. The file is the layer.
    let file = File::open(source).map_err(ImportError::io("open", source))?;
    let (digest, size) = txn.ingest(file, None, progress)?;
    let staged = txn.blob_file(&digest)?;
    let compression = sniff_blob(&staged)?;
    let diff = if compression == Compression::None {
        digest.clone()
    } else {
        diff_id(&staged)?
    };
    // 2. A config naming it.
    let created = oci::now_rfc3339();
    let config = ImageConfig {
        architecture: oci::host_architecture().to_string(),
        os: "linux".to_string(),
        created: Some(created.clone()),
        config: Some(ExecConfig::default()),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: vec![diff],
        },
        history: Some(vec![History {
            created: Some(created),
            created_by: Some(format!("berth-img import {}", source.display())),
            ..History::default()
        }]),
        ..ImageConfig::default()
    };
    let config_bytes = serde_json::to_vec(&config).map_err(ImportError::json(source, "config"))?;
    let config_digest = txn.ingest_bytes(&config_bytes)?;
    // 3. A manifest.
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::media::OCI_MANIFEST.into()),
        config: Descriptor::new(
            oci::media::OCI_CONFIG,
            config_digest,
            config_bytes.len() as u64,
        ),
        layers: vec![Descriptor::new(compression.oci_media_type(), digest, size)],
        annotations: None,
    };
    let bytes = serde_json::to_vec(&manifest).map_err(ImportError::json(source, "manifest"))?;
    let manifest_digest = txn.ingest_bytes(&bytes)?;
    Ok(vec![Found {
        names: vec![],
        descriptor: Descriptor::new(
            oci::media::OCI_MANIFEST,
            manifest_digest,
            bytes.len() as u64,
        ),
    }])
}
