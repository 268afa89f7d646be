//! `import`: images from an OCI layout directory, an OCI archive, a docker
//! save archive (legacy and Docker >= 25 forms, or unpacked into a
//! directory), a skopeo `dir:` directory, or a plain rootfs tar (one layer).

mod docker;
mod files;
mod oci_layout;
mod rootfs;

use std::io;
use std::path::{Path, PathBuf};

use files::{ArchiveFiles, Files};

use crate::oci::{Descriptor, Escaped};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Added, Store, StoreError, Transaction};

pub use files::sniff_blob;

/// Errors of importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A filesystem call on the source failed.
    #[error("{call} {path}: {source}")]
    Io {
        /// The call.
        call: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The source archive is not a readable tar.
    #[error("{path}: not a readable tar archive: {}", Escaped(.source))]
    Tar {
        /// The archive.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The source's metadata names a file it does not have.
    #[error("{source_path}: {name:?} is missing")]
    Missing {
        /// The source.
        source_path: PathBuf,
        /// The file name.
        name: String,
    },
    /// The source's metadata names a file outside of it.
    #[error(
        "{source_path}: file {name:?} is absolute or leads out of the source (by name or symlink)"
    )]
    BadName {
        /// The source.
        source_path: PathBuf,
        /// The name.
        name: String,
    },
    /// A metadata file is not valid JSON of the expected shape.
    #[error("{source_path}: {file}: {}", Escaped(.error))]
    Json {
        /// The source.
        source_path: PathBuf,
        /// The file.
        file: String,
        /// The parse error.
        error: serde_json::Error,
    },
    /// The source holds several images but one name was given.
    #[error("{source_path}: holds {count} images; a name can only be given to one")]
    NameForMany {
        /// The source.
        source_path: PathBuf,
        /// How many images.
        count: usize,
    },
    /// The source holds no image.
    #[error("{source_path}: holds no image")]
    Empty {
        /// The source.
        source_path: PathBuf,
    },
    /// A directory that is neither an OCI layout, a skopeo dir nor an unpacked docker save.
    #[error("{source_path}: not an OCI layout (oci-layout, index.json) or a docker/skopeo directory (manifest.json)")]
    UnknownDirectory {
        /// The source.
        source_path: PathBuf,
    },
    /// The oci-layout file is invalid or of an unknown version.
    #[error("{source_path}: {source}")]
    Layout {
        /// The source.
        source_path: PathBuf,
        /// What is wrong with it.
        source: crate::oci::layout::LayoutError,
    },
    /// A name the source gives an image is not a valid reference.
    #[error("{source_path}: {field}: {source}")]
    BadImageName {
        /// The source.
        source_path: PathBuf,
        /// Where the name is (an annotation, RepoTags).
        field: &'static str,
        /// Why the name was refused.
        source: crate::reference::ReferenceError,
    },
    /// The store refused something.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    pub(crate) fn io(call: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { call, path, source }
    }

    pub(crate) fn tar(path: &Path) -> impl Fn(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Tar {
            path: path.clone(),
            source,
        }
    }

    pub(crate) fn json(source_path: &Path, file: &str) -> impl FnOnce(serde_json::Error) -> Self {
        let (source_path, file) = (source_path.to_path_buf(), file.to_string());
        move |error| Self::Json {
            source_path,
            file,
            error,
        }
    }
}

/// How an import goes.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Name for the image (the source must hold exactly one).
    pub name: Option<Reference>,
    /// Do not unpack the layers now (bundle will when first needed).
    pub no_unpack: bool,
    /// Limits for unpacking.
    pub limits: crate::layer::Limits,
}

/// An image found in a source, before it is added.
pub(crate) struct Found {
    /// Names the source gives it.
    pub names: Vec<Reference>,
    /// Its manifest (or index) descriptor, staged.
    pub descriptor: Descriptor,
}

/// Import every image of `source` into `store`. Nothing changes in the store
/// unless all of them are good.
pub fn import(
    store: &Store,
    source: &Path,
    options: &ImportOptions,
) -> Result<Vec<Added>, ImportError> {
    if source == Path::new("-") {
        return import_stdin(store, options);
    }
    let total = std::fs::metadata(source).map_err(ImportError::io("stat", source))?;
    let progress = Progress::bytes("import", if total.is_dir() { 0 } else { total.len() });
    let mut txn = Transaction::new(store)?;
    // 1. Find the images and stage their blobs.
    let found = if total.is_dir() {
        from_directory(source, &mut txn, &progress)?
    } else {
        from_file(source, &mut txn, &progress)?
    };
    if found.is_empty() {
        return Err(ImportError::Empty {
            source_path: source.to_path_buf(),
        });
    }
    if options.name.is_some() && found.len() > 1 {
        return Err(ImportError::NameForMany {
            source_path: source.to_path_buf(),
            count: found.len(),
        });
    }
    // 2. Check each image and attach its names.
    for image in found {
        let names = match &options.name {
            Some(name) => vec![name.clone()],
            None => image.names,
        };
        if names.is_empty() {
            txn.add_image(None, &image.descriptor)?;
        }
        for name in names {
            txn.add_image(Some(name), &image.descriptor)?;
        }
    }
    // 3. Unpack layers and commit.
    progress.finish();
    let unpacking = Progress::bytes("unpack", 0);
    let added = txn.commit(!options.no_unpack, options.limits, &unpacking)?;
    unpacking.finish();
    Ok(added)
}

/// An archive on standard input is spooled to the store's staging first
/// (archives are read twice: once for their names, once for their files).
fn import_stdin(store: &Store, options: &ImportOptions) -> Result<Vec<Added>, ImportError> {
    let spool = store
        .root()
        .join("tmp")
        .join(crate::store::unique_name("stdin"));
    let result = std::fs::File::create(&spool)
        .and_then(|mut file| io::copy(&mut io::stdin().lock(), &mut file))
        .map_err(ImportError::io("spool stdin to", &spool))
        .and_then(|_| import(store, &spool, options));
    let _ = std::fs::remove_file(&spool);
    result
}

fn from_directory(
    source: &Path,
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    let files = Files::Dir(source.to_path_buf());
    if files.exists("oci-layout") && files.exists("index.json") {
        return oci_layout::find(&files, txn, progress);
    }
    if files.exists("manifest.json") {
        let manifest = files.read_small("manifest.json")?;
        return match manifest.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => docker::find(&files, &manifest, txn, progress),
            _ => oci_layout::find_skopeo_dir(&files, &manifest, txn, progress),
        };
    }
    Err(ImportError::UnknownDirectory {
        source_path: source.to_path_buf(),
    })
}

fn from_file(
    source: &Path,
    txn: &mut Transaction<'_>,
    progress: &Progress,
) -> Result<Vec<Found>, ImportError> {
    let names = files::archive_names(source)?;
    let has = |name: &str| names.iter().any(|n| n == Path::new(name));
    if has("manifest.json") || (has("oci-layout") && has("index.json")) {
        let files = Files::Archive(ArchiveFiles::stage(source, txn, progress)?);
        if has("oci-layout") && has("index.json") {
            return oci_layout::find(&files, txn, progress);
        }
        let manifest = files.read_small("manifest.json")?;
        return docker::find(&files, &manifest, txn, progress);
    }
    rootfs::find(source, txn, progress)
}
