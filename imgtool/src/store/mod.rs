//! The image store: an OCI image layout on disk (blobs by sha256, an
//! `index.json` whose manifests carry `name:tag` references), plus the
//! unpacked layers that bundles mount, one directory per layer blob.
//!
//! ```text
//! STORE/oci-layout, index.json     the layout; index.json replaced atomically
//! STORE/blobs/ALG/HEX              content (sha256, sha512), written only after verification
//! STORE/layers/HEX/                a layer unpacked once, shared by every image
//! STORE/bundles/HEX                bundles that mount layers (kept by gc)
//! STORE/tmp/                       staging: imports and unpacks in progress
//! STORE/lock                       flock held while the store changes
//! STORE/leases/NAME                a running build's layers (flock held while it runs)
//! ```

mod bundles;
mod index;
mod leases;
mod txn;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use bundles::BundleRecord;
pub use leases::BuildLease;
pub use txn::{Added, BlobWriter, Transaction};

use crate::oci::layout::{self, LayoutFile};
use crate::oci::{self, media, Compression, Descriptor, Digest, DigestError, Escaped, ImageConfig};
use crate::oci::{Index, Manifest, VerifyError, VerifyingReader};
use crate::reference::{Reference, ReferenceError};
use crate::sys;

/// The largest JSON document (manifest, index, config) read into memory.
pub const MAX_JSON_SIZE: u64 = 32 << 20;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed on a store path.
    #[error("{call} {path}: {source}")]
    Io {
        /// The call that failed.
        call: &'static str,
        /// The path it was made on.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A blob is not in the store.
    #[error("blob {digest} is missing from the store")]
    MissingBlob {
        /// Its digest.
        digest: Digest,
    },
    /// A blob's content does not match its descriptor.
    #[error(transparent)]
    Mismatch(#[from] VerifyError),
    /// A JSON document could not be parsed.
    #[error("{what} {digest}: invalid JSON: {}", Escaped(.source))]
    Json {
        /// Which document (manifest, index, config).
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The store's index.json could not be parsed.
    #[error("{path}: invalid index: {}", Escaped(.source))]
    IndexJson {
        /// The index path.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A JSON blob is larger than [`MAX_JSON_SIZE`].
    #[error("{what} {digest}: {size} bytes is larger than the {MAX_JSON_SIZE} byte limit")]
    TooLarge {
        /// Which document.
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// Its declared size.
        size: u64,
    },
    /// No image has this reference, digest or id.
    #[error("image {name:?} not found in the store")]
    UnknownImage {
        /// What was asked for.
        name: String,
    },
    /// An id prefix matches more than one image.
    #[error("image id prefix {prefix:?} matches more than one image")]
    AmbiguousImage {
        /// The prefix.
        prefix: String,
    },
    /// A manifest's layers and its config's diff_ids disagree in number.
    #[error("manifest {digest}: {layers} layers but the config lists {diff_ids} diff_ids")]
    LayerCount {
        /// The manifest digest.
        digest: Digest,
        /// Number of layers.
        layers: usize,
        /// Number of diff_ids.
        diff_ids: usize,
    },
    /// A descriptor of a kind that is not an image manifest.
    #[error("{digest}: media type {media_type:?} is not an image manifest or index")]
    NotAnImage {
        /// The digest.
        digest: Digest,
        /// The media type found.
        media_type: String,
    },
    /// An index has no manifest for this platform.
    #[error("index {digest}: no manifest for linux/{arch}")]
    NoPlatform {
        /// The index digest.
        digest: Digest,
        /// This machine's architecture.
        arch: &'static str,
    },
    /// A layer's media type is not a tar, tar+gzip or tar+zstd layer.
    #[error("layer {digest}: unsupported media type {media_type:?}")]
    LayerMediaType {
        /// The layer digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A bundle record of the store cannot be read (an older berth-img's
    /// record: `unbundle` its directory).
    #[error("bundle record {path}: invalid JSON: {}", Escaped(.source))]
    BundleRecord {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A digest string is invalid.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A reference string is invalid.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Unpacking a layer failed.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
}

impl StoreError {
    pub(crate) fn io(
        call: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { call, path, source }
    }

    pub(crate) fn errno(
        call: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(sys::Errno) -> Self {
        let path = path.into();
        move |errno| Self::Io {
            call,
            path,
            source: errno.into(),
        }
    }
}

/// A resolved image: its manifest and configuration.
#[derive(Clone, Debug)]
pub struct Image {
    /// The manifest's descriptor.
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The image configuration.
    pub config: ImageConfig,
}

/// What `push` sends: blobs first, then the manifest.
#[derive(Clone, Debug)]
pub struct PushPlan {
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest bytes as stored (their digest is the image's).
    pub manifest: Vec<u8>,
    /// The config and layers.
    pub blobs: Vec<Descriptor>,
}

/// An opened store.
pub struct Store {
    root: PathBuf,
}

/// The exclusive lock on a store; released on drop.
pub struct StoreLock {
    _file: File,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name unique within this machine for temporary entries.
pub(crate) fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

impl Store {
    /// The default store: /var/lib/berth for root, the XDG data dir otherwise.
    pub fn default_root() -> PathBuf {
        if sys::is_root() {
            return PathBuf::from("/var/lib/berth");
        }
        match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
            (Some(data), _) if !data.is_empty() => PathBuf::from(data).join("berth"),
            (_, Some(home)) => PathBuf::from(home).join(".local/share/berth"),
            _ => PathBuf::from("/var/lib/berth"),
        }
    }

    /// Open the store at `root`, creating an empty layout if there is none.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let root = std::path::absolute(root).map_err(StoreError::io("absolute", root))?;
        for dir in [
            "blobs/sha256",
            "blobs/sha512",
            "layers",
            "bundles",
            "leases",
            "tmp",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(StoreError::io("mkdir", &path))?;
        }
        let store = Self { root };
        let layout = store.root.join(layout::OCI_LAYOUT_FILE);
        if !layout.exists() {
            let current = serde_json::to_vec(&LayoutFile::current()).unwrap_or_default();
            store.write_atomic(&layout, &current)?;
        }
        if !store.index_path().exists() {
            let empty = Index {
                schema_version: 2,
                media_type: Some(media::OCI_INDEX.into()),
                manifests: vec![],
            };
            store.write_index(&empty)?;
        }
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Take the store's exclusive lock (held while it changes).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(StoreError::io("open", &path))?;
        sys::lock_exclusive(file.as_fd()).map_err(StoreError::errno("flock", &path))?;
        Ok(StoreLock { _file: file })
    }

    /// Where a blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(layout::blob_path(digest))
    }

    /// Where a layer is unpacked.
    pub fn layer_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("layers").join(digest.hex())
    }

    /// The staging directory.
    pub(crate) fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The directory of bundle records.
    pub(crate) fn bundles_path(&self) -> PathBuf {
        self.root.join("bundles")
    }

    /// The blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Open a blob; the reader fails at its end unless digest and size match.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifyingReader<File>, StoreError> {
        let path = self.blob_path(&descriptor.digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob {
                digest: descriptor.digest.clone(),
            },
            _ => StoreError::Io {
                call: "open",
                path: path.clone(),
                source: e,
            },
        })?;
        Ok(VerifyingReader::new(
            file,
            descriptor.digest.clone(),
            descriptor.size,
        ))
    }

    /// Read and parse a JSON blob, verified.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError> {
        let bytes = self.read_small_blob(what, descriptor)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what,
            digest: descriptor.digest.clone(),
            source,
        })
    }

    /// Read a small blob (a JSON document) into memory, verified.
    pub fn read_small_blob(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, StoreError> {
        if descriptor.size > MAX_JSON_SIZE {
            return Err(StoreError::TooLarge {
                what,
                digest: descriptor.digest.clone(),
                size: descriptor.size,
            });
        }
        let mut bytes = Vec::with_capacity(descriptor.size as usize);
        let path = self.blob_path(&descriptor.digest);
        self.open_blob(descriptor)?
            .read_to_end(&mut bytes)
            .map_err(|e| blob_read_error(e, &path))?;
        Ok(bytes)
    }

    /// Load the image a manifest descriptor names (an index picks this platform).
    pub fn image(&self, descriptor: &Descriptor) -> Result<Image, StoreError> {
        load_image(self, descriptor)
    }

    /// Every named reference, in index order.
    pub fn references(&self) -> Result<Vec<(Reference, Descriptor)>, StoreError> {
        let index = self.read_index()?;
        Ok(index::named(&index))
    }

    /// Every image of the index, with its reference when it has one
    /// (untagged images too: `images` shows them as `<none>`).
    pub fn entries(&self) -> Result<Vec<(Option<Reference>, Descriptor)>, StoreError> {
        let index = self.read_index()?;
        Ok(index::entries(&index))
    }

    /// Find an image by reference, manifest digest, or a unique id prefix
    /// (of the manifest digest, at least 4 hex digits).
    pub fn resolve(&self, name: &str) -> Result<Image, StoreError> {
        let descriptor = self.resolve_descriptor(name)?;
        self.image(&descriptor)
    }

    /// Like [`Store::resolve`], returning the manifest descriptor only.
    pub fn resolve_descriptor(&self, name: &str) -> Result<Descriptor, StoreError> {
        let index = self.read_index()?;
        let unknown = || StoreError::UnknownImage {
            name: name.to_string(),
        };
        if let Ok(reference) = name.parse::<Reference>() {
            if let Some((_, d)) = index::named(&index)
                .into_iter()
                .find(|(r, _)| *r == reference)
            {
                return Ok(d);
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() < 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let mut found: Vec<Descriptor> = index
            .manifests
            .iter()
            .filter(|d| d.digest.hex().starts_with(hex))
            .cloned()
            .collect();
        found.dedup_by(|a, b| a.digest == b.digest);
        match found.len() {
            0 => Err(unknown()),
            1 => Ok(found.remove(0)),
            _ => Err(StoreError::AmbiguousImage {
                prefix: name.to_string(),
            }),
        }
    }

    /// What pushing image `name` sends (the seam `push` uses): its manifest
    /// as stored, and the blobs it names (read them with [`Store::open_blob`]).
    pub fn push_plan(&self, name: &str) -> Result<PushPlan, StoreError> {
        let image = self.resolve(name)?;
        let manifest = self.read_small_blob("manifest", &image.descriptor)?;
        let mut blobs = vec![image.manifest.config.clone()];
        blobs.extend(image.manifest.layers.iter().cloned());
        Ok(PushPlan {
            media_type: image.descriptor.media_type.clone(),
            manifest,
            blobs,
        })
    }

    /// Add `reference` to the image `source` names.
    pub fn tag(&self, source: &str, reference: &Reference) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let descriptor = self.resolve_descriptor(source)?;
        let mut index = self.read_index()?;
        index::set(&mut index, reference, &descriptor);
        self.write_index(&index)
    }

    /// Remove a reference (or every reference of an image named by id);
    /// blobs and layers stay until `gc`. Returns the references removed.
    pub fn remove(&self, name: &str) -> Result<Vec<Reference>, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let removed = match name.parse::<Reference>() {
            Ok(reference) if index::named(&index).iter().any(|(r, _)| *r == reference) => {
                index::remove_ref(&mut index, &reference)
            }
            _ => {
                let descriptor = self.resolve_descriptor(name)?;
                index::remove_digest(&mut index, &descriptor.digest)
            }
        };
        self.write_index(&index)?;
        Ok(removed)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join(layout::INDEX_FILE)
    }

    pub(crate) fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(StoreError::io("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::IndexJson { path, source })
    }

    pub(crate) fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| StoreError::IndexJson {
            path: self.index_path(),
            source,
        })?;
        self.write_atomic(&self.index_path(), &bytes)
    }

    /// Write `bytes` to `path` through a synced temporary file and a rename.
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.tmp_path().join(unique_name("write"));
        let mut file = File::create(&tmp).map_err(StoreError::io("create", &tmp))?;
        let result = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(StoreError::io("write", &tmp))
            .and_then(|()| {
                crate::killpoint::reached("store:write-synced");
                fs::rename(&tmp, path).map_err(StoreError::io("rename", path))
            });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Where image JSON is read from, verified: the store, or a transaction's staging.
pub(crate) trait JsonBlobs {
    /// Read and parse the JSON blob `descriptor` names.
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError>;
}

impl JsonBlobs for Store {
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError> {
        self.read_json(what, descriptor)
    }
}

/// Load the image `descriptor` names: an index resolves to this platform's
/// manifest; the manifest must be an image manifest whose layers pair up
/// with its config's diff_ids.
pub(crate) fn load_image(
    blobs: &impl JsonBlobs,
    descriptor: &Descriptor,
) -> Result<Image, StoreError> {
    let mut descriptor = Descriptor::new(
        &descriptor.media_type,
        descriptor.digest.clone(),
        descriptor.size,
    );
    if descriptor.is_index() {
        let index: Index = blobs.json("index", &descriptor)?;
        let picked = index.pick_platform().ok_or(StoreError::NoPlatform {
            digest: descriptor.digest.clone(),
            arch: oci::host_architecture(),
        })?;
        descriptor = Descriptor::new(&picked.media_type, picked.digest.clone(), picked.size);
    }
    if !media::is_manifest(&descriptor.media_type) {
        return Err(StoreError::NotAnImage {
            digest: descriptor.digest,
            media_type: descriptor.media_type,
        });
    }
    let manifest: Manifest = blobs.json("manifest", &descriptor)?;
    let config: ImageConfig = blobs.json("config", &manifest.config)?;
    check_layers(&descriptor.digest, &manifest, &config)?;
    Ok(Image {
        descriptor,
        manifest,
        config,
    })
}

/// The manifest's layers and the config's diff_ids must pair up, and every
/// layer must be of a kind we can unpack.
pub(crate) fn check_layers(
    digest: &Digest,
    manifest: &Manifest,
    config: &ImageConfig,
) -> Result<(), StoreError> {
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(StoreError::LayerCount {
            digest: digest.clone(),
            layers: manifest.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    for layer in &manifest.layers {
        if Compression::from_media_type(&layer.media_type).is_none() {
            return Err(StoreError::LayerMediaType {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
            });
        }
    }
    Ok(())
}

/// Turn a read error of a verifying reader into a store error, keeping a
/// digest mismatch typed.
pub(crate) fn blob_read_error(error: io::Error, path: &Path) -> StoreError {
    match VerifyError::from_io(error) {
        Ok(mismatch) => StoreError::Mismatch(mismatch),
        Err(source) => StoreError::Io {
            call: "read",
            path: path.to_path_buf(),
            source,
        },
    }
}
