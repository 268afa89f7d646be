//! Runtime bundles from stored images: `DIR/rootfs` is an overlayfs of the
//! image's unpacked layers with a private upper directory (milliseconds,
//! whatever the image size) or, with `copy`, a flattened copy; `DIR/config.json`
//! is derived from the image configuration.
//!
//! ```text
//! DIR/config.json
//! DIR/rootfs/                 overlay mount point (or the copy)
//! DIR/.berth/bundle.json      what made it (unbundle needs it)
//! DIR/.berth/upper, work      the overlay's private directories
//! DIR/.berth/volumes/N        host directories for the image's volumes
//! ```

pub mod spec;
pub mod user;

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::sys::OFlag;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::killpoint;
use crate::layer::{self, LayerError, LayerJob, UnpackOptions, Whiteouts};
use crate::progress::Progress;
use crate::store::{BundleRecord, Image, Store, StoreError};
use crate::sys::{self, Errno, Resolve};

/// Errors of making or removing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unpacking a layer (for `--copy`) failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The bundle directory exists and is not empty.
    #[error("{dir}: exists and is not empty")]
    Exists {
        /// The directory.
        dir: PathBuf,
    },
    /// A filesystem call failed.
    #[error("{call} {path}: {source}")]
    Io {
        /// The call.
        call: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Mounting the overlay failed.
    #[error("mount overlay on {target}: {errno}")]
    Mount {
        /// The mount point.
        target: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// The overlay options are too long for one mount call.
    #[error(
        "image has {layers} layers: the overlay lowerdir list is longer than a page; use --copy"
    )]
    TooManyLayers {
        /// The layer count.
        layers: usize,
    },
    /// Unmounting the overlay failed.
    #[error("unmount {target}: {errno}")]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// The image has neither Entrypoint nor Cmd and no args were given.
    #[error("image {image}: no Entrypoint or Cmd; give the command with --args")]
    NoCommand {
        /// The image.
        image: String,
    },
    /// The image's user is not in the rootfs's /etc/passwd.
    #[error("user {user:?} not found in the image's /etc/passwd")]
    UnknownUser {
        /// The user.
        user: String,
    },
    /// The image's group is not in the rootfs's /etc/group.
    #[error("group {group:?} not found in the image's /etc/group")]
    UnknownGroup {
        /// The group.
        group: String,
    },
    /// An environment override is not `KEY=value`.
    #[error("environment entry {value:?}: expected KEY=value")]
    BadEnv {
        /// The entry.
        value: String,
    },
    /// A path in the image config (volume, working dir) is not absolute.
    #[error("image volume {path:?}: not an absolute path")]
    BadVolume {
        /// The path.
        path: String,
    },
    /// The directory is not a bundle berth-img made.
    #[error("{dir}: not a berth-img bundle (no .berth/bundle.json)")]
    NotABundle {
        /// The directory.
        dir: PathBuf,
    },
    /// A JSON file could not be written or read.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}

fn io_error(call: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Io { call, path, source }
}

/// A host directory bound into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// How a bundle is made.
#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    /// Write a flattened copy instead of mounting an overlay.
    pub copy: bool,
    /// Replace Entrypoint + Cmd.
    pub args: Option<Vec<String>>,
    /// `KEY=value` entries set over the image's.
    pub env: Vec<String>,
    /// The container's hostname.
    pub hostname: Option<String>,
    /// Extra bind mounts.
    pub binds: Vec<Bind>,
    /// Give the process a terminal.
    pub terminal: bool,
    /// Mount the rootfs read-only.
    pub read_only: bool,
}

/// What `.berth/bundle.json` records.
#[derive(Serialize, Deserialize)]
struct Record {
    store: PathBuf,
    image: Digest,
    layers: Vec<Digest>,
    overlay: bool,
}

const MARKER: &str = ".berth";

/// What an overlay bundle is made of: the store, the image it started from
/// and the upper directory holding its changes (what `commit` turns into a layer).
pub struct BundleChanges {
    /// The store the bundle's layers live in.
    pub store: PathBuf,
    /// The image (manifest digest).
    pub image: Digest,
    /// The overlay's upper directory.
    pub upper: PathBuf,
}

/// The changes of the overlay bundle in `dir`.
pub fn changes(dir: &Path) -> Result<BundleChanges, BundleError> {
    let dir = std::path::absolute(dir).map_err(io_error("absolute", dir))?;
    let record_path = dir.join(MARKER).join("bundle.json");
    let bytes = fs::read(&record_path).map_err(|_| BundleError::NotABundle { dir: dir.clone() })?;
    let record: Record = serde_json::from_slice(&bytes).map_err(|source| BundleError::Json {
        path: record_path.clone(),
        source,
    })?;
    if !record.overlay {
        return Err(BundleError::NotABundle { dir });
    }
    Ok(BundleChanges {
        store: record.store,
        image: record.image,
        upper: dir.join(MARKER).join("upper"),
    })
}

/// Make a bundle of image `name` in `dir` (created; must be empty if it
/// exists, or hold a half-made bundle, which is removed first).
pub fn create(
    store: &Store,
    name: &str,
    dir: &Path,
    options: &BundleOptions,
) -> Result<PathBuf, BundleError> {
    let dir = std::path::absolute(dir).map_err(io_error("absolute", dir))?;
    // 1. Under the store lock (held until the store records the bundle, so
    //    gc cannot take its layers in between): the image, and the plan
    //    checked before anything is made.
    let lock = store.lock()?;
    let image = store.resolve(name)?;
    let exec = image.config.config.clone().unwrap_or_default();
    spec::validate(&exec, name, options)?;
    // 2. Layers unpacked in the store (overlay).
    if !options.copy {
        store.ensure_unpacked_locked(&lock, &image, &Progress::bytes("unpack", 0))?;
    }
    // 3. The bundle directory and its own record first: from here on,
    //    `unbundle DIR` (or `bundle` to DIR again) removes whatever follows.
    make_empty_dir(&dir)?;
    let mut guard = Cleanup {
        store,
        dir: dir.clone(),
        mounted: false,
        armed: true,
    };
    let state = dir.join(MARKER);
    fs::create_dir(&state).map_err(io_error("mkdir", &state))?;
    let layers: Vec<Digest> = image
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    let record = Record {
        store: store.root().to_path_buf(),
        image: image.descriptor.digest.clone(),
        layers: layers.clone(),
        overlay: !options.copy,
    };
    write_json_atomic(&state.join("bundle.json"), &record)?;
    killpoint::reached("bundle:recorded");
    // 4. The store's record, so gc keeps the layers; then the lock can go
    //    (a copy still reads blobs, so it keeps the lock until it is done).
    if !options.copy {
        let store_record = BundleRecord {
            dir: dir.clone(),
            image: image.descriptor.digest.clone(),
            layers,
        };
        store.record_bundle(&lock, &store_record)?;
        drop(lock);
    }
    // 5. The root filesystem.
    let rootfs = dir.join("rootfs");
    fs::create_dir(&rootfs).map_err(io_error("mkdir", &rootfs))?;
    if options.copy {
        copy_layers(store, &image, &rootfs)?;
    } else {
        mount_overlay(store, &image, &state, &rootfs)?;
        guard.mounted = true;
    }
    killpoint::reached("bundle:mounted");
    // 6. config.json, written last and atomically: it marks the bundle complete.
    let spec = config_for(&image, name, &dir, &rootfs, options)?;
    write_json_atomic(&dir.join("config.json"), &spec)?;
    guard.armed = false;
    Ok(dir)
}

/// Remove a bundle made by [`create`], complete or half-made: unmount its
/// rootfs, delete it, and drop the store's record of it.
pub fn remove(dir: &Path) -> Result<(), BundleError> {
    let dir = std::path::absolute(dir).map_err(io_error("absolute", dir))?;
    let record_path = dir.join(MARKER).join("bundle.json");
    let record =
        match fs::read(&record_path) {
            Ok(bytes) => Some(serde_json::from_slice::<Record>(&bytes).map_err(|source| {
                BundleError::Json {
                    path: record_path.clone(),
                    source,
                }
            })?),
            // Killed between making `.berth` and writing the record: nothing
            // else was made yet, so only a directory holding `.berth` alone is ours.
            Err(e) if e.kind() == io::ErrorKind::NotFound && holds_only_marker(&dir) => None,
            Err(_) => return Err(BundleError::NotABundle { dir: dir.clone() }),
        };
    let rootfs = dir.join("rootfs");
    if sys::is_mount_point(&rootfs) {
        sys::unmount(&rootfs, false).map_err(|errno| BundleError::Unmount {
            target: rootfs.clone(),
            errno,
        })?;
    }
    layer::remove_path(&dir).map_err(io_error("remove", &dir))?;
    if let Some(record) = record.filter(|r| r.overlay) {
        if let Ok(store) = Store::open(&record.store) {
            store.forget_bundle(&dir)?;
        }
    }
    Ok(())
}

/// `dir` holds nothing but the `.berth` directory.
fn holds_only_marker(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names == [MARKER] && dir.join(MARKER).is_dir()
    })
}

/// `dir` holds a bundle that [`create`] did not finish (killed part-way):
/// its record or marker, but no config.json yet.
fn is_half_made(dir: &Path) -> bool {
    dir.join(MARKER).is_dir() && !dir.join("config.json").exists()
}

/// Removes a half-made bundle on failure.
struct Cleanup<'s> {
    store: &'s Store,
    dir: PathBuf,
    mounted: bool,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.mounted {
            let _ = sys::unmount(&self.dir.join("rootfs"), true);
        }
        let _ = layer::remove_path(&self.dir);
        let _ = self.store.forget_bundle(&self.dir);
    }
}

fn make_empty_dir(dir: &Path) -> Result<(), BundleError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_half_made(dir) => {
            remove(dir)?;
            fs::create_dir(dir).map_err(io_error("mkdir", dir))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut entries = fs::read_dir(dir).map_err(io_error("readdir", dir))?;
            if entries.next().is_some() {
                return Err(BundleError::Exists {
                    dir: dir.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) => Err(io_error("mkdir", dir)(e)),
    }
}

/// Write JSON through a temporary file and a rename: readers see all or nothing.
fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), BundleError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| BundleError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(io_error("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io_error("rename", path))
}

/// Mount the overlay: lower layers top first, a private upper and work dir.
fn mount_overlay(
    store: &Store,
    image: &Image,
    state: &Path,
    rootfs: &Path,
) -> Result<(), BundleError> {
    let upper = state.join("upper");
    let work = state.join("work");
    for path in [&upper, &work] {
        fs::create_dir(path).map_err(io_error("mkdir", path))?;
    }
    let mut lowers: Vec<PathBuf> = image
        .manifest
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_path(&l.digest))
        .collect();
    if lowers.is_empty() {
        let empty = state.join("empty");
        fs::create_dir(&empty).map_err(io_error("mkdir", &empty))?;
        lowers.push(empty);
    }
    let lowerdir = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    if options.len() >= 4096 {
        return Err(BundleError::TooManyLayers {
            layers: lowers.len(),
        });
    }
    sys::mount_overlay(&options, rootfs).map_err(|errno| BundleError::Mount {
        target: rootfs.to_path_buf(),
        errno,
    })
}

/// Unpack every layer, in order, into one directory (whiteouts applied).
fn copy_layers(store: &Store, image: &Image, rootfs: &Path) -> Result<(), BundleError> {
    let options = UnpackOptions {
        whiteouts: Whiteouts::Apply,
        limits: layer::Limits::default(),
    };
    let total = image.manifest.layers.iter().map(|l| l.size).sum();
    let progress = Progress::bytes("copy", total);
    for (descriptor, diff_id) in image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
    {
        let job = LayerJob {
            descriptor: descriptor.clone(),
            diff_id: Some(diff_id.clone()),
            blob: store.blob_path(&descriptor.digest),
            target: rootfs.to_path_buf(),
        };
        if !store.has_blob(&descriptor.digest) {
            return Err(StoreError::MissingBlob {
                digest: descriptor.digest.clone(),
            }
            .into());
        }
        layer::unpack_blob(&job, &options, &progress)?;
    }
    progress.finish();
    Ok(())
}

/// config.json for the image, its user resolved in the mounted rootfs and
/// its volumes backed by directories of the bundle.
fn config_for(
    image: &Image,
    name: &str,
    dir: &Path,
    rootfs: &Path,
    options: &BundleOptions,
) -> Result<serde_json::Value, BundleError> {
    let exec = image.config.config.clone().unwrap_or_default();
    let rootfs_fd = sys::open_dir(rootfs).map_err(|errno| BundleError::Io {
        call: "open",
        path: rootfs.to_path_buf(),
        source: errno.into(),
    })?;
    let user = user::resolve(rootfs_fd.as_fd(), exec.user.as_deref().unwrap_or(""))?;
    let mut volume_sources = Vec::new();
    for (i, volume) in exec
        .volumes
        .iter()
        .flatten()
        .map(|(path, _)| path)
        .enumerate()
    {
        // Absolute: spec::validate checked it before anything was made.
        let source = dir.join(MARKER).join("volumes").join(i.to_string());
        fs::create_dir_all(&source).map_err(io_error("mkdir", &source))?;
        // The mount point exists in the rootfs (made inside it, never through
        // a symlink out), and the volume gets its owner and mode.
        let in_rootfs = rootfs.join(volume.trim_start_matches('/'));
        let mount_point =
            make_dirs_in_root(rootfs_fd.as_fd(), volume).map_err(|errno| BundleError::Io {
                call: "mkdir",
                path: in_rootfs.clone(),
                source: errno.into(),
            })?;
        let stat = sys::fstat(mount_point.as_fd()).map_err(|errno| BundleError::Io {
            call: "fstat",
            path: in_rootfs.clone(),
            source: errno.into(),
        })?;
        std::os::unix::fs::chown(&source, Some(stat.st_uid), Some(stat.st_gid))
            .map_err(io_error("chown", &source))?;
        fs::set_permissions(
            &source,
            std::os::unix::fs::PermissionsExt::from_mode(stat.st_mode & 0o7777),
        )
        .map_err(io_error("chmod", &source))?;
        volume_sources.push((volume.clone(), source.to_string_lossy().into_owned()));
    }
    let extra = [
        (
            "org.opencontainers.image.ref.name".to_string(),
            name.to_string(),
        ),
        (
            "berth.image.digest".to_string(),
            image.descriptor.digest.to_string(),
        ),
    ];
    let inputs = spec::SpecInputs {
        image: &exec,
        user: &user,
        volume_sources: &volume_sources,
        image_name: name,
        extra_annotations: &extra,
    };
    spec::build(&inputs, options)
}

/// mkdir -p of `path` inside `root`, resolving as the container would;
/// returns the directory.
fn make_dirs_in_root(
    root: std::os::fd::BorrowedFd<'_>,
    path: &str,
) -> Result<std::os::fd::OwnedFd, Errno> {
    let mut current = PathBuf::from("/");
    for part in Path::new(path).iter().skip(1) {
        let parent = sys::open_below(
            root,
            &current,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Resolve::InRoot,
        )?;
        match sys::mkdir(parent.as_fd(), part, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        current.push(part);
    }
    sys::open_below(
        root,
        &current,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Resolve::InRoot,
    )
}
