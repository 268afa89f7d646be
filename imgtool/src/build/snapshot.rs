//! Root filesystems of a build: an overlay of a stage's stored layers with
//! a fresh upper directory (what RUN, COPY and WORKDIR change), and the
//! turning of that upper directory into a layer. The kernel already writes
//! the upper directory in the form a stored layer has (deletions as 0:0
//! character devices, replaced directories marked opaque), so the directory
//! itself moves into the store as the unpacked layer and only its tar
//! stream (the blob) is generated.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::digest::{Digest, HashingWriter};
use crate::oci::media::OCI_LAYER as MEDIA_OCI_LAYER;
use crate::store::{BuildLease, Store};
use crate::sys;

/// A layer of a stage: stored blob and unpacked directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRef {
    /// The blob's digest (also the unpacked directory's name).
    pub digest: Digest,
    /// The uncompressed digest.
    pub diff_id: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size.
    pub size: u64,
}

impl LayerRef {
    /// The layers of a stored image, base first.
    pub fn of_image(image: &crate::store::Image) -> Vec<LayerRef> {
        image
            .manifest
            .layers
            .iter()
            .zip(&image.config.rootfs.diff_ids)
            .map(|(l, d)| LayerRef {
                digest: l.digest.clone(),
                diff_id: d.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            })
            .collect()
    }
}

const OPAQUE: &[u8] = b"trusted.overlay.opaque";

fn io_error(call: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { call, path, source }
}

fn errno_error(call: &'static str, path: &Path) -> impl FnOnce(sys::Errno) -> BuildError {
    let path = path.to_path_buf();
    move |errno| BuildError::Io {
        call,
        path,
        source: io::Error::from_raw_os_error(errno as i32),
    }
}

/// An overlay mount of layers; writable (with an upper directory) or a read-only view.
pub struct Overlay {
    area: PathBuf,
    merged: PathBuf,
    upper: Option<PathBuf>,
    mounted: bool,
}

impl Overlay {
    /// Mount `layers` (base first) under `area` (created; removed on drop).
    pub fn mount(
        store: &Store,
        layers: &[LayerRef],
        area: &Path,
        writable: bool,
    ) -> Result<Self, BuildError> {
        fs::create_dir_all(area).map_err(io_error("mkdir", area))?;
        let mut overlay = Overlay {
            area: area.to_path_buf(),
            merged: area.join("merged"),
            upper: None,
            mounted: false,
        };
        let empty = area.join("empty");
        for dir in [&overlay.merged, &empty] {
            fs::create_dir(dir).map_err(io_error("mkdir", dir))?;
        }
        // The empty bottom layer makes a read-only view of one layer (or none) valid.
        let mut lower: Vec<String> = layers
            .iter()
            .rev()
            .map(|l| store.layer_path(&l.digest).display().to_string())
            .collect();
        lower.push(empty.display().to_string());
        let mut options = format!("lowerdir={}", lower.join(":"));
        if writable {
            let upper = area.join("upper");
            let work = area.join("work");
            for dir in [&upper, &work] {
                fs::create_dir(dir).map_err(io_error("mkdir", dir))?;
            }
            options.push_str(&format!(
                ",upperdir={},workdir={}",
                upper.display(),
                work.display()
            ));
            overlay.upper = Some(upper);
        }
        if options.len() >= 4000 {
            return Err(BuildError::TooManyLayers {
                layers: layers.len(),
            });
        }
        sys::mount_overlay(&options, &overlay.merged)
            .map_err(errno_error("mount overlay", &overlay.merged))?;
        overlay.mounted = true;
        Ok(overlay)
    }

    /// The merged root.
    pub fn root(&self) -> &Path {
        &self.merged
    }

    /// The upper directory (writable overlays).
    pub fn upper(&self) -> Option<&Path> {
        self.upper.as_deref()
    }

    /// Unmount (the upper directory stays).
    pub fn unmount(&mut self) -> Result<(), BuildError> {
        if self.mounted {
            sys::unmount(&self.merged, false).map_err(errno_error("unmount", &self.merged))?;
            self.mounted = false;
        }
        Ok(())
    }

    /// Unmount and make the upper directory a stored layer.
    pub fn commit(mut self, store: &Store, lease: &BuildLease) -> Result<LayerRef, BuildError> {
        self.unmount()?;
        let upper = self.upper.clone().expect("commit needs a writable overlay");
        strip_overlay_xattrs(&upper)?;
        // 1. The blob: the upper directory as a tar stream, hashed as written.
        let staging = store
            .tmp_path()
            .join(crate::store::unique_name("build-layer"));
        let file = File::create(&staging).map_err(io_error("create", &staging))?;
        let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        write_tar(&upper, &mut writer).map_err(io_error("write layer", &staging))?;
        let (buffered, digest, size) = writer.finish();
        let file = buffered.into_inner().map_err(|e| BuildError::Io {
            call: "write",
            path: staging.clone(),
            source: e.into_error(),
        })?;
        drop(file);
        // 2. Blob and directory into the store (content-addressed: an existing
        // one is the same), leased first and under the store lock: a gc
        // running now either finishes before or sees the lease.
        let lock = store.lock()?;
        lease.hold(&lock, &digest)?;
        let blob = store.blob_path(&digest);
        if blob.exists() {
            let _ = fs::remove_file(&staging);
        } else {
            fs::rename(&staging, &blob).map_err(io_error("rename", &blob))?;
        }
        let dir = store.layer_path(&digest);
        if !dir.is_dir() {
            fs::rename(&upper, &dir).map_err(io_error("rename", &dir))?;
        }
        Ok(LayerRef {
            diff_id: digest.clone(),
            digest,
            media_type: MEDIA_OCI_LAYER.into(),
            size,
        })
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if self.mounted {
            let _ = sys::unmount(&self.merged, true);
        }
        let _ = crate::layer::remove_path(&self.area);
    }
}

/// Overlay bookkeeping other than the opaque mark means nothing in a layer.
fn strip_overlay_xattrs(dir: &Path) -> Result<(), BuildError> {
    for (entry, _) in walk(dir).map_err(io_error("walk", dir))? {
        let path = dir.join(&entry);
        for name in sys::list_xattrs(&path).unwrap_or_default() {
            if name.starts_with(b"trusted.overlay.") && name != OPAQUE {
                sys::remove_xattr(&path, &name).map_err(errno_error("removexattr", &path))?;
            }
        }
    }
    Ok(())
}

/// Relative paths below `root` with their lstat, parents before children,
/// sorted by name. Entries are statted through their directory's fd (no
/// path lookup per file): the context walk of every build does this.
pub fn walk(root: &Path) -> io::Result<Vec<(PathBuf, fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut entries: Vec<(std::ffi::OsString, fs::Metadata)> = fs::read_dir(root.join(&rel))?
            .map(|e| e.and_then(|e| Ok((e.file_name(), e.metadata()?))))
            .collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, meta) in entries {
            let child = rel.join(&name);
            if meta.is_dir() {
                stack.push(child.clone());
            }
            out.push((child, meta));
        }
    }
    // Path order: parents before children, siblings by name.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Write the layer tar of an overlay upper directory.
pub fn write_tar(upper: &Path, out: &mut impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for (rel, meta) in walk(upper)? {
        let path = upper.join(&rel);
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        // Deletions: a 0:0 character device is `.wh.NAME`.
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            let mut header = header_for(&meta, tar::EntryType::Regular);
            header.set_size(0);
            builder.append_data(&mut header, parent.join(format!(".wh.{name}")), io::empty())?;
            continue;
        }
        let xattrs: Vec<(String, Vec<u8>)> = sys::list_xattrs(&path)
            .unwrap_or_default()
            .into_iter()
            .filter(|k| !k.starts_with(b"trusted.overlay."))
            .filter_map(|k| {
                let value = sys::get_xattr(&path, &k).ok()?;
                Some((
                    format!("SCHILY.xattr.{}", String::from_utf8_lossy(&k)),
                    value,
                ))
            })
            .collect();
        if !xattrs.is_empty() {
            builder
                .append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut header = header_for(&meta, tar::EntryType::Directory);
            builder.append_data(&mut header, format!("{}/", rel.display()), io::empty())?;
            // A replaced directory: everything below in lower layers is hidden.
            if sys::get_xattr(&path, OPAQUE).is_ok_and(|v| v == b"y") {
                let mut marker = header_for(&meta, tar::EntryType::Regular);
                marker.set_size(0);
                marker.set_mode(0o644);
                builder.append_data(&mut marker, rel.join(".wh..wh..opq"), io::empty())?;
            }
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    let mut header = header_for(&meta, tar::EntryType::Link);
                    header.set_size(0);
                    builder.append_link(&mut header, &rel, first)?;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), rel.clone());
            }
            let mut header = header_for(&meta, tar::EntryType::Regular);
            header.set_size(meta.len());
            builder.append_data(&mut header, &rel, File::open(&path)?)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let mut header = header_for(&meta, tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, &rel, target)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                continue; // sockets have no tar form
            };
            let mut header = header_for(&meta, kind);
            header.set_size(0);
            let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
            header.set_device_major(major)?;
            header.set_device_minor(minor)?;
            builder.append_data(&mut header, &rel, io::empty())?;
        }
    }
    builder.finish()
}

fn header_for(meta: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(meta.uid().into());
    header.set_gid(meta.gid().into());
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(0);
    header
}
