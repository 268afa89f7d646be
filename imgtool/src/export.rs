//! `export`: an image to an OCI archive or a docker save archive (the
//! Docker >= 25 form: an OCI layout plus manifest.json, layers uncompressed
//! as `docker load` expects).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::digest::{Digest, HashingWriter};
use crate::oci::layout::{blob_name, LayoutFile};
use crate::oci::{self, Descriptor, Index, Manifest};
use crate::store::{unique_name, Image, Store, StoreError};

/// Errors of exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the archive failed.
    #[error("{call} {path}: {source}")]
    Io {
        /// The call.
        call: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A layer does not decompress to the diff_id its config names.
    #[error("layer {layer}: uncompressed content hashes to {actual}, the config says {expected}")]
    DiffId {
        /// The layer.
        layer: Digest,
        /// The config's diff_id.
        expected: Digest,
        /// What it hashes to.
        actual: Digest,
    },
}

/// The archive format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout in a tar.
    OciArchive,
    /// A docker save archive.
    DockerArchive,
}

/// Export image `name` to `out` (written whole, then renamed into place).
pub fn export(store: &Store, name: &str, out: &Path, format: Format) -> Result<(), ExportError> {
    let image = store.resolve(name)?;
    let ref_name = name
        .parse::<crate::reference::Reference>()
        .ok()
        .filter(|r| store.resolve_descriptor(&r.to_string()).is_ok());
    let tmp = out.with_file_name(unique_name(".berth-export"));
    let result = write_archive(
        store,
        &image,
        ref_name.as_ref().map(ToString::to_string),
        &tmp,
        format,
    );
    match result {
        Ok(()) => fs::rename(&tmp, out).map_err(|source| ExportError::Io {
            call: "rename",
            path: out.to_path_buf(),
            source,
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

struct Archive {
    builder: tar::Builder<BufWriter<File>>,
    path: PathBuf,
}

impl Archive {
    fn add(&mut self, name: &str, size: u64, data: impl Read) -> Result<(), ExportError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let path = self.path.clone();
        self.builder
            .append_data(&mut header, name, data)
            .map_err(|source| ExportError::Io {
                call: "write",
                path,
                source,
            })
    }

    fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), ExportError> {
        self.add(name, bytes.len() as u64, bytes)
    }

    fn add_dir(&mut self, name: &str) -> Result<(), ExportError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        header.set_mode(0o755);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Directory);
        let path = self.path.clone();
        self.builder
            .append_data(&mut header, name, io::empty())
            .map_err(|source| ExportError::Io {
                call: "write",
                path,
                source,
            })
    }

    fn add_blob_file(
        &mut self,
        digest: &Digest,
        path: &Path,
        size: u64,
    ) -> Result<(), ExportError> {
        let file = File::open(path).map_err(|source| ExportError::Io {
            call: "open",
            path: path.to_path_buf(),
            source,
        })?;
        self.add(&blob_name(digest), size, file)
    }
}

fn write_archive(
    store: &Store,
    image: &Image,
    ref_name: Option<String>,
    out: &Path,
    format: Format,
) -> Result<(), ExportError> {
    let file = File::create(out).map_err(|source| ExportError::Io {
        call: "create",
        path: out.to_path_buf(),
        source,
    })?;
    let mut archive = Archive {
        builder: tar::Builder::new(BufWriter::with_capacity(1 << 20, file)),
        path: out.to_path_buf(),
    };
    archive.add_dir("blobs/")?;
    archive.add_dir("blobs/sha256/")?;
    // 1. Layers: as stored (OCI), or uncompressed and named by diff_id (docker).
    let mut layers = Vec::new();
    let mut spool = Vec::new();
    for (layer, diff_id) in image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
    {
        let compressed = crate::oci::Compression::from_media_type(&layer.media_type)
            != Some(crate::oci::Compression::None);
        if format == Format::DockerArchive && compressed {
            let (path, size) = decompress_layer(store, layer, diff_id)?;
            archive.add_blob_file(diff_id, &path, size)?;
            spool.push(path);
            layers.push(Descriptor::new(
                oci::media::OCI_LAYER,
                diff_id.clone(),
                size,
            ));
        } else {
            let size = layer.size;
            archive.add(&blob_name(&layer.digest), size, store.open_blob(layer)?)?;
            layers.push(layer.clone());
        }
    }
    for path in spool {
        let _ = fs::remove_file(path);
    }
    // 2. Config and manifest (a new one when the layers changed form).
    let config = store.read_small_blob("config", &image.manifest.config)?;
    archive.add_bytes(&blob_name(&image.manifest.config.digest), &config)?;
    let (manifest_bytes, manifest_descriptor) = if layers == image.manifest.layers {
        (
            store.read_small_blob("manifest", &image.descriptor)?,
            image.descriptor.clone(),
        )
    } else {
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::media::OCI_MANIFEST.into()),
            config: image.manifest.config.clone(),
            layers: layers.clone(),
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let descriptor = Descriptor::new(
            oci::media::OCI_MANIFEST,
            Digest::of_bytes(&bytes),
            bytes.len() as u64,
        );
        (bytes, descriptor)
    };
    archive.add_bytes(&blob_name(&manifest_descriptor.digest), &manifest_bytes)?;
    // 3. The layout's index and marker.
    let mut entry = manifest_descriptor.clone();
    if let Some(name) = &ref_name {
        entry.annotations = Some([(oci::ANNOTATION_REF_NAME.to_string(), name.clone())].into());
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(oci::media::OCI_INDEX.into()),
        manifests: vec![entry],
    };
    archive.add_bytes(
        "index.json",
        &serde_json::to_vec(&index).unwrap_or_default(),
    )?;
    archive.add_bytes(
        "oci-layout",
        &serde_json::to_vec(&LayoutFile::current()).unwrap_or_default(),
    )?;
    // 4. docker's manifest.json.
    if format == Format::DockerArchive {
        let tags: Vec<String> = ref_name.into_iter().collect();
        let saved = json!([{
            "Config": blob_name(&image.manifest.config.digest),
            "RepoTags": tags,
            "Layers": layers.iter().map(|l| blob_name(&l.digest)).collect::<Vec<_>>(),
        }]);
        archive.add_bytes(
            "manifest.json",
            &serde_json::to_vec(&saved).unwrap_or_default(),
        )?;
    }
    let mut writer = archive
        .builder
        .into_inner()
        .map_err(|source| ExportError::Io {
            call: "write",
            path: out.to_path_buf(),
            source,
        })?;
    writer.flush().map_err(|source| ExportError::Io {
        call: "write",
        path: out.to_path_buf(),
        source,
    })?;
    writer
        .get_ref()
        .sync_all()
        .map_err(|source| ExportError::Io {
            call: "fsync",
            path: out.to_path_buf(),
            source,
        })
}

/// Decompress a layer into the store's staging, checking its diff_id.
fn decompress_layer(
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<(PathBuf, u64), ExportError> {
    let path = store.root().join("tmp").join(unique_name("export"));
    let io_err = |call| {
        let path = path.clone();
        move |source| ExportError::Io { call, path, source }
    };
    let file = File::create(&path).map_err(io_err("create"))?;
    let mut writer = HashingWriter::with_algorithm(BufWriter::new(file), diff_id.algorithm());
    let reader = io::BufReader::new(store.open_blob(layer)?);
    let copied = match crate::oci::Compression::from_media_type(&layer.media_type) {
        Some(crate::oci::Compression::Zstd) => zstd::stream::read::Decoder::with_buffer(reader)
            .and_then(|mut d| io::copy(&mut d, &mut writer)),
        _ => io::copy(
            &mut flate2::bufread::MultiGzDecoder::new(reader),
            &mut writer,
        ),
    };
    if let Err(e) = copied {
        let _ = fs::remove_file(&path);
        return Err(io_err("decompress")(e));
    }
    let (buffered, actual, size) = writer.finish();
    buffered
        .into_inner()
        .map_err(|e| io_err("write")(e.into_error()))?;
    if actual != *diff_id {
        let _ = fs::remove_file(&path);
        return Err(ExportError::DiffId {
            layer: layer.digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok((path, size))
}
