//! Adding images to the store as one transaction: blobs are staged (and
//! verified while they stream in), images checked, layers unpacked, and only
//! then is anything moved into the store and the index rewritten. A
//! transaction dropped before `commit` leaves the store as it was.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::MAX_JSON_SIZE;
use super::{index, load_image, unique_name, Image, JsonBlobs, Store, StoreError, StoreLock};
use crate::killpoint;
use crate::layer::{self, LayerJob, UnpackOptions, Whiteouts};
use crate::oci::{Algorithm, Digest, HashingWriter, VerifyError, VerifyingReader};
use crate::oci::{Descriptor, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;

/// An image added by a transaction.
#[derive(Clone, Debug)]
pub struct Added {
    /// The reference it got, if any.
    pub reference: Option<Reference>,
    /// The manifest descriptor.
    pub descriptor: Descriptor,
}

/// One blob being written into a transaction's staging.
pub struct BlobWriter {
    writer: HashingWriter<io::BufWriter<File>>,
    path: PathBuf,
    expected: Option<(Digest, u64)>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// A set of blobs and references on their way into a store.
pub struct Transaction<'s> {
    store: &'s Store,
    staging: PathBuf,
    staged: HashMap<Digest, PathBuf>,
    added: Vec<Added>,
}

impl<'s> Transaction<'s> {
    /// Start a transaction on `store`.
    pub fn new(store: &'s Store) -> Result<Self, StoreError> {
        let staging = store.tmp_path().join(unique_name("txn"));
        fs::create_dir(&staging).map_err(StoreError::io("mkdir", &staging))?;
        Ok(Self {
            store,
            staging,
            staged: HashMap::new(),
            added: Vec::new(),
        })
    }

    /// The blob is in the store or staged.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.staged.contains_key(digest) || self.store.has_blob(digest)
    }

    /// The file holding a staged or stored blob.
    pub fn blob_file(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        if let Some(path) = self.staged.get(digest) {
            return Ok(path.clone());
        }
        if self.store.has_blob(digest) {
            return Ok(self.store.blob_path(digest));
        }
        Err(StoreError::MissingBlob {
            digest: digest.clone(),
        })
    }

    /// Stream a blob in. With `expected`, its digest and size are checked
    /// (and a blob already present is not read at all); without, the blob is
    /// named by what it hashes to. Returns the digest and size.
    pub fn ingest(
        &mut self,
        reader: impl Read,
        expected: Option<(&Digest, u64)>,
        progress: &Progress,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some((digest, size)) = expected {
            if self.has_blob(digest) {
                return Ok((digest.clone(), size));
            }
        }
        let mut writer = self.blob_writer(expected.map(|(d, s)| (d.clone(), s)))?;
        let limit = expected.map_or(u64::MAX, |(_, size)| size.saturating_add(1));
        let path = writer.path.clone();
        io::copy(&mut progress.reader(reader).take(limit), &mut writer)
            .map_err(|e| super::blob_read_error(e, &path))?;
        self.finish_blob(writer)
    }

    /// A writer for one blob (what a registry client streams into); with
    /// `expected`, [`Transaction::finish_blob`] checks digest and size.
    pub fn blob_writer(&self, expected: Option<(Digest, u64)>) -> Result<BlobWriter, StoreError> {
        let path = self.staging.join(unique_name("blob"));
        let file = File::create(&path).map_err(StoreError::io("create", &path))?;
        Ok(BlobWriter {
            // Hashed with the algorithm the blob is named by (sha256 or sha512).
            writer: HashingWriter::with_algorithm(
                io::BufWriter::with_capacity(1 << 20, file),
                expected
                    .as_ref()
                    .map_or(Algorithm::Sha256, |(digest, _)| digest.algorithm()),
            ),
            path,
            expected,
        })
    }

    /// Check a written blob against what it was expected to be and stage it.
    pub fn finish_blob(&mut self, blob: BlobWriter) -> Result<(Digest, u64), StoreError> {
        let BlobWriter {
            writer,
            path,
            expected,
        } = blob;
        let (buffered, digest, size) = writer.finish();
        let file = buffered.into_inner().map_err(|e| StoreError::Io {
            call: "write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(StoreError::io("fsync", &path))?;
        if let Some((expected_digest, expected_size)) = expected {
            if let Err(mismatch) =
                VerifyError::compare(&expected_digest, expected_size, &digest, size)
            {
                let _ = fs::remove_file(&path);
                return Err(StoreError::Mismatch(mismatch));
            }
        }
        self.stage(path, &digest)?;
        Ok((digest, size))
    }

    /// Stage a blob held in memory (a manifest or config we wrote).
    pub fn ingest_bytes(&mut self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of_bytes(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let path = self.staging.join(unique_name("blob"));
        let mut file = File::create(&path).map_err(StoreError::io("create", &path))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(StoreError::io("write", &path))?;
        self.stage(path, &digest)?;
        Ok(digest)
    }

    fn stage(&mut self, path: PathBuf, digest: &Digest) -> Result<(), StoreError> {
        let named = self.staging.join(digest.hex());
        fs::rename(&path, &named).map_err(StoreError::io("rename", &path))?;
        self.staged.insert(digest.clone(), named);
        Ok(())
    }

    /// Read and parse a staged or stored JSON blob, verified.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError> {
        if descriptor.size > MAX_JSON_SIZE {
            return Err(StoreError::TooLarge {
                what,
                digest: descriptor.digest.clone(),
                size: descriptor.size,
            });
        }
        let path = self.blob_file(&descriptor.digest)?;
        let file = File::open(&path).map_err(StoreError::io("open", &path))?;
        let mut bytes = Vec::new();
        VerifyingReader::new(file, descriptor.digest.clone(), descriptor.size)
            .read_to_end(&mut bytes)
            .map_err(|e| super::blob_read_error(e, &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what,
            digest: descriptor.digest.clone(),
            source,
        })
    }

    /// Add the image `descriptor` names (an index picks this platform's
    /// manifest), with `reference` if given. Its manifest, config and layers
    /// must be staged or stored already.
    pub fn add_image(
        &mut self,
        reference: Option<Reference>,
        descriptor: &Descriptor,
    ) -> Result<Image, StoreError> {
        let image = load_image(self, descriptor)?;
        // Every layer is at hand (its content is checked again when unpacked).
        for layer in &image.manifest.layers {
            self.blob_file(&layer.digest)?;
        }
        self.added.push(Added {
            reference,
            descriptor: image.descriptor.clone(),
        });
        Ok(image)
    }

    /// Receive an image (the seam `pull` uses): the manifest bytes as
    /// fetched, then `fetch` fills a [`BlobWriter`] for every blob it names
    /// that the store lacks; each is checked against its descriptor.
    pub fn receive_image<E: From<StoreError>>(
        &mut self,
        reference: Option<Reference>,
        manifest: &[u8],
        media_type: &str,
        mut fetch: impl FnMut(&Descriptor, &mut BlobWriter) -> Result<(), E>,
    ) -> Result<Image, E> {
        let digest = self.ingest_bytes(manifest)?;
        let descriptor = Descriptor::new(media_type, digest.clone(), manifest.len() as u64);
        let parsed: Manifest =
            serde_json::from_slice(manifest).map_err(|source| StoreError::Json {
                what: "manifest",
                digest,
                source,
            })?;
        for blob in std::iter::once(&parsed.config).chain(&parsed.layers) {
            if self.has_blob(&blob.digest) {
                continue;
            }
            let mut writer = self.blob_writer(Some((blob.digest.clone(), blob.size)))?;
            fetch(blob, &mut writer)?;
            self.finish_blob(writer)?;
        }
        Ok(self.add_image(reference, &descriptor)?)
    }

    /// Unpack the new images' layers that the store lacks, then move the
    /// blobs and layers into place and record the references.
    pub fn commit(
        self,
        unpack: bool,
        limits: layer::Limits,
        progress: &Progress,
    ) -> Result<Vec<Added>, StoreError> {
        let _lock = self.store.lock()?;
        // 1. Unpack missing layers into staging, in parallel.
        let mut jobs: Vec<LayerJob> = Vec::new();
        let mut reachable: HashSet<Digest> = HashSet::new();
        for added in &self.added {
            let image = load_image(&self, &added.descriptor)?;
            let manifest = &image.manifest;
            reachable.insert(added.descriptor.digest.clone());
            reachable.insert(manifest.config.digest.clone());
            reachable.extend(manifest.layers.iter().map(|l| l.digest.clone()));
            if unpack {
                for (layer, diff_id) in manifest.layers.iter().zip(&image.config.rootfs.diff_ids) {
                    if self.store.layer_path(&layer.digest).is_dir()
                        || jobs.iter().any(|j| j.descriptor.digest == layer.digest)
                    {
                        continue;
                    }
                    let blob = self.blob_file(&layer.digest)?;
                    let target = self.staging.join(format!("layer-{}", layer.digest.hex()));
                    jobs.push(LayerJob {
                        descriptor: layer.clone(),
                        diff_id: Some(diff_id.clone()),
                        blob,
                        target,
                    });
                }
            }
        }
        let options = UnpackOptions {
            whiteouts: Whiteouts::Overlay,
            limits,
        };
        layer::unpack_parallel(&jobs, &options, progress)?;
        killpoint::reached("commit:unpacked");
        // 2. Move the blobs the images use into the store (content-addressed:
        // an existing one is the same).
        for (digest, path) in self.staged.iter().filter(|(d, _)| reachable.contains(*d)) {
            let destination = self.store.blob_path(digest);
            if !destination.exists() {
                fs::rename(path, &destination).map_err(StoreError::io("rename", &destination))?;
            }
        }
        killpoint::reached("commit:blobs-moved");
        // 3. Move unpacked layers into place.
        for job in &jobs {
            let destination = self.store.layer_path(&job.descriptor.digest);
            if fs::rename(&job.target, &destination).is_err() && !destination.is_dir() {
                return Err(StoreError::io("rename", &destination)(
                    io::Error::last_os_error(),
                ));
            }
        }
        killpoint::reached("commit:layers-moved");
        // 4. Record the references.
        let mut store_index = self.store.read_index()?;
        for added in &self.added {
            match &added.reference {
                Some(reference) => index::set(&mut store_index, reference, &added.descriptor),
                None if !store_index
                    .manifests
                    .iter()
                    .any(|d| d.digest == added.descriptor.digest) =>
                {
                    store_index.manifests.push(added.descriptor.clone())
                }
                None => {}
            }
        }
        self.store.write_index(&store_index)?;
        Ok(self.added.clone())
    }
}

impl JsonBlobs for Transaction<'_> {
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError> {
        self.read_json(what, descriptor)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let _ = layer::remove_path(&self.staging);
    }
}

impl Store {
    /// Make sure the layers of `image` are unpacked in the store (for
    /// bundles); unpacks the missing ones in parallel.
    pub fn ensure_unpacked(&self, image: &Image, progress: &Progress) -> Result<(), StoreError> {
        let missing = image
            .manifest
            .layers
            .iter()
            .any(|l| !self.layer_path(&l.digest).is_dir());
        if !missing {
            return Ok(());
        }
        let lock = self.lock()?;
        self.ensure_unpacked_locked(&lock, image, progress)
    }

    /// [`Store::ensure_unpacked`] for a caller that holds the store's lock
    /// (and keeps holding it until what uses the layers is recorded).
    pub fn ensure_unpacked_locked(
        &self,
        _lock: &StoreLock,
        image: &Image,
        progress: &Progress,
    ) -> Result<(), StoreError> {
        let mut jobs = Vec::new();
        let mut seen = BTreeMap::new();
        for (layer, diff_id) in image
            .manifest
            .layers
            .iter()
            .zip(&image.config.rootfs.diff_ids)
        {
            if self.layer_path(&layer.digest).is_dir()
                || seen.insert(layer.digest.clone(), ()).is_some()
            {
                continue;
            }
            if !self.has_blob(&layer.digest) {
                return Err(StoreError::MissingBlob {
                    digest: layer.digest.clone(),
                });
            }
            let target = self.tmp_path().join(unique_name("layer"));
            jobs.push(LayerJob {
                descriptor: layer.clone(),
                diff_id: Some(diff_id.clone()),
                blob: self.blob_path(&layer.digest),
                target,
            });
        }
        let options = UnpackOptions {
            whiteouts: Whiteouts::Overlay,
            limits: layer::Limits::default(),
        };
        layer::unpack_parallel(&jobs, &options, progress)?;
        for job in &jobs {
            let destination = self.layer_path(&job.descriptor.digest);
            fs::rename(&job.target, &destination)
                .map_err(StoreError::io("rename", &destination))?;
        }
        Ok(())
    }
}
