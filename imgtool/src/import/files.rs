//! The files of an image source, by name: a directory (OCI layout, skopeo
//! dir, unpacked docker save) or an archive whose entries were staged.
//!
//! Names come from the source's own JSON (manifest.json, index.json) and are
//! checked before use: no absolute names, no `..`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::ImportError;
use crate::digest::Digest;
use crate::oci::Compression;
use crate::progress::Progress;
use crate::store::{Transaction, MAX_JSON_SIZE};
use crate::sys;

/// Files of at most this size whose names look like metadata stay in memory.
const SMALL: u64 = 4 << 20;

/// A name from the source's metadata, made relative and checked.
pub fn clean(source: &Path, name: &str) -> Result<PathBuf, ImportError> {
    let mut clean = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => {
                return Err(ImportError::BadName {
                    source_path: source.to_path_buf(),
                    name: name.to_string(),
                })
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(ImportError::BadName {
            source_path: source.to_path_buf(),
            name: name.to_string(),
        });
    }
    Ok(clean)
}

/// Where an image source's files are.
pub enum Files {
    /// A directory.
    Dir(PathBuf),
    /// An archive, streamed once: its files staged as blobs, small metadata kept.
    Archive(ArchiveFiles),
}

/// The staged contents of an archive.
pub struct ArchiveFiles {
    path: PathBuf,
    staged: HashMap<PathBuf, (Digest, u64)>,
    small: HashMap<PathBuf, Vec<u8>>,
    links: HashMap<PathBuf, PathBuf>,
}

fn is_metadata(name: &Path) -> bool {
    let text = name.to_string_lossy();
    text.ends_with(".json")
        || text.ends_with("/VERSION")
        || text == "oci-layout"
        || text == "repositories"
}

/// Open a file that may be gzip or zstd compressed, decompressing it.
pub fn open_maybe_compressed(path: &Path) -> Result<Box<dyn Read>, ImportError> {
    let mut file = io::BufReader::new(File::open(path).map_err(ImportError::io("open", path))?);
    let head = io::BufRead::fill_buf(&mut file).map_err(ImportError::io("read", path))?;
    Ok(match Compression::sniff(head) {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .map_err(ImportError::io("zstd", path))?,
        ),
    })
}

/// The names of an archive's entries (a first, cheap pass).
pub fn archive_names(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut archive = tar::Archive::new(open_maybe_compressed(path)?);
    let mut names = Vec::new();
    for entry in archive.entries().map_err(ImportError::tar(path))? {
        let entry = entry.map_err(ImportError::tar(path))?;
        let name = entry.path().map_err(ImportError::tar(path))?;
        if let Ok(name) = clean(path, &name.to_string_lossy()) {
            names.push(name);
        }
    }
    Ok(names)
}

impl ArchiveFiles {
    /// Stream the archive at `path`, staging every regular file in `txn`.
    pub fn stage(
        path: &Path,
        txn: &mut Transaction<'_>,
        progress: &Progress,
    ) -> Result<Self, ImportError> {
        let mut files = Self {
            path: path.to_path_buf(),
            staged: HashMap::new(),
            small: HashMap::new(),
            links: HashMap::new(),
        };
        let mut archive = tar::Archive::new(open_maybe_compressed(path)?);
        for entry in archive.entries().map_err(ImportError::tar(path))? {
            let mut entry = entry.map_err(ImportError::tar(path))?;
            let raw = entry
                .path()
                .map_err(ImportError::tar(path))?
                .to_string_lossy()
                .into_owned();
            let Ok(name) = clean(path, &raw) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if entry.size() <= SMALL && is_metadata(&name) {
                        let mut bytes = Vec::new();
                        entry
                            .read_to_end(&mut bytes)
                            .map_err(ImportError::tar(path))?;
                        files.small.insert(name, bytes);
                    } else {
                        let staged = txn.ingest(&mut entry, None, progress)?;
                        files.staged.insert(name, staged);
                    }
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let Some(target) = entry.link_name().map_err(ImportError::tar(path))? else {
                        continue;
                    };
                    let target = target.to_string_lossy().into_owned();
                    // Symlinks are relative to their directory, hardlinks to the archive root.
                    let base = match entry.header().entry_type() {
                        tar::EntryType::Symlink => {
                            name.parent().unwrap_or(Path::new("")).join(&target)
                        }
                        _ => PathBuf::from(&target),
                    };
                    if let Some(resolved) = lexical(&base) {
                        files.links.insert(name, resolved);
                    }
                }
                _ => {}
            }
        }
        Ok(files)
    }

    fn resolve(&self, name: &Path) -> PathBuf {
        let mut name = name.to_path_buf();
        for _ in 0..8 {
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        name
    }
}

/// Resolve `..` lexically inside the archive; None if it leaves it.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

impl Files {
    /// The path of the source, for messages.
    pub fn source(&self) -> &Path {
        match self {
            Self::Dir(path) => path,
            Self::Archive(files) => &files.path,
        }
    }

    /// The file `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        let Ok(name) = clean(self.source(), name) else {
            return false;
        };
        match self {
            Self::Dir(root) => root.join(name).is_file(),
            Self::Archive(files) => {
                let name = files.resolve(&name);
                files.small.contains_key(&name) || files.staged.contains_key(&name)
            }
        }
    }

    fn missing(&self, name: &str) -> ImportError {
        ImportError::Missing {
            source_path: self.source().to_path_buf(),
            name: name.to_string(),
        }
    }

    /// Read a small metadata file.
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>, ImportError> {
        let clean_name = clean(self.source(), name)?;
        let missing = || self.missing(name);
        match self {
            Self::Dir(root) => {
                let path = root.join(&clean_name);
                let file = open_in_dir(root, &clean_name, name)?;
                let mut bytes = Vec::new();
                file.take(MAX_JSON_SIZE)
                    .read_to_end(&mut bytes)
                    .map_err(ImportError::io("read", &path))?;
                Ok(bytes)
            }
            Self::Archive(files) => files
                .small
                .get(&files.resolve(&clean_name))
                .cloned()
                .ok_or_else(missing),
        }
    }

    /// Bring file `name` into the transaction as a blob. With `expected`,
    /// its digest and size are checked. Returns digest and size.
    pub fn ingest(
        &self,
        txn: &mut Transaction<'_>,
        name: &str,
        expected: Option<(&Digest, u64)>,
        progress: &Progress,
    ) -> Result<(Digest, u64), ImportError> {
        let clean_name = clean(self.source(), name)?;
        let missing = || self.missing(name);
        match self {
            Self::Dir(root) => {
                if let Some((digest, size)) = expected {
                    if txn.has_blob(digest) {
                        return Ok((digest.clone(), size));
                    }
                }
                let file = open_in_dir(root, &clean_name, name)?;
                Ok(txn.ingest(file, expected, progress)?)
            }
            Self::Archive(files) => {
                let resolved = files.resolve(&clean_name);
                let found = match files.staged.get(&resolved) {
                    Some(staged) => staged.clone(),
                    None => {
                        let bytes = files.small.get(&resolved).ok_or_else(missing)?;
                        (txn.ingest_bytes(bytes)?, bytes.len() as u64)
                    }
                };
                if let Some((digest, size)) = expected {
                    crate::oci::VerifyError::compare(digest, size, &found.0, found.1)
                        .map_err(|mismatch| ImportError::Store(mismatch.into()))?;
                }
                Ok(found)
            }
        }
    }
}

/// Open a file of a source directory, never through a symlink that leads
/// out of it (a layout's metadata names the files; the tree is not ours).
fn open_below(root: &Path, name: &Path) -> io::Result<File> {
    let dir = sys::open_dir(root)?;
    Ok(File::from(sys::open_below(
        std::os::fd::AsFd::as_fd(&dir),
        name,
        sys::OFlag::O_RDONLY,
        sys::Resolve::Beneath,
    )?))
}

/// Open file `name` (cleaned: `clean_name`) of source directory `root`,
/// with errors that say which file is missing or leads out.
fn open_in_dir(root: &Path, clean_name: &Path, name: &str) -> Result<File, ImportError> {
    open_below(root, clean_name).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ImportError::Missing {
            source_path: root.to_path_buf(),
            name: name.to_string(),
        },
        _ if e.raw_os_error() == Some(libc::EXDEV) => ImportError::BadName {
            source_path: root.to_path_buf(),
            name: name.to_string(),
        },
        _ => ImportError::io("open", &root.join(clean_name))(e),
    })
}

/// Compression of a staged blob, from its first bytes.
pub fn sniff_blob(path: &Path) -> Result<Compression, ImportError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(ImportError::io("open", path))?;
    let n = file
        .read(&mut head)
        .map_err(ImportError::io("read", path))?;
    Ok(Compression::sniff(&head[..n]))
}

/// The sha256 of a layer's uncompressed tar (its diff_id).
pub fn diff_id(path: &Path) -> Result<Digest, ImportError> {
    let mut hashing = crate::digest::HashingReader::new(open_maybe_compressed(path)?);
    io::copy(&mut hashing, &mut io::sink()).map_err(ImportError::io("read", path))?;
    Ok(hashing.finish().0)
}
