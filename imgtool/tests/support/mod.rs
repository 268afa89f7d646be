//! Helpers of berth-img's end-to-end tests: temporary stores and bundles
//! that clean up (unmounting overlays) in Drop, hand-made layers (including
//! hostile ones), OCI layouts, and filesystem tree snapshots to compare.
#![allow(dead_code)]

pub mod registry;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The berth-img binary under test.
pub fn berth_img() -> &'static str {
    env!("CARGO_BIN_EXE_berth-img")
}

/// A temporary directory for one test, removed on drop, with any overlay
/// mounted below it unmounted first.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-img-test-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    /// A build context `name` in this scratch directory: `dockerfile` as its Dockerfile and
    /// `files` (path, content) beside it.
    pub fn context(&self, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        for (path, content) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    /// Run berth-img with this scratch's store.
    pub fn run(&self, args: &[&str]) -> Output {
        let store = self.store();
        let mut all = vec!["--store", store.to_str().unwrap()];
        all.extend_from_slice(args);
        Command::new(berth_img())
            .args(&all)
            .output()
            .expect("run berth-img")
    }

    /// Run berth-img and insist on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth-img {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run berth-img, insist on failure with exit code 1, and return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "berth-img {args:?} should fail; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one-line error expected: {stderr}"
        );
        stderr
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Unmount every mount below the scratch dir, deepest first.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.path().to_string_lossy().into_owned();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
    }
}

/// A tar entry for a hand-made layer.
pub enum Item<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
    /// A file with owner and extended attributes.
    Owned(&'a str, &'a [u8], u32, u32, u32, &'a [(&'a str, &'a [u8])]),
}

/// Write `name` into a header byte for byte (no checks: hostile names too).
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let bytes = name.as_bytes();
    let field = &mut header.as_old_mut().name;
    assert!(
        bytes.len() < field.len(),
        "name too long for the test helper"
    );
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
}

fn set_raw_link(header: &mut tar::Header, link: &str) {
    let bytes = link.as_bytes();
    let field = &mut header.as_old_mut().linkname;
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
}

/// Build an uncompressed tar layer from items, names taken as they are.
pub fn layer(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_600_000_000);
        header.set_uid(0);
        header.set_gid(0);
        let (name, data): (&str, &[u8]) = match item {
            Item::File(name, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (name, data)
            }
            Item::Dir(name, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                (name, &[])
            }
            Item::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                set_raw_link(&mut header, target);
                (name, &[])
            }
            Item::Hardlink(name, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                set_raw_link(&mut header, target);
                (name, &[])
            }
            Item::Char(name, major, minor) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(0o666);
                header.set_device_major(*major).unwrap();
                header.set_device_minor(*minor).unwrap();
                (name, &[])
            }
            Item::Fifo(name) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_mode(0o644);
                (name, &[])
            }
            Item::Owned(name, data, mode, uid, gid, xattrs) => {
                if !xattrs.is_empty() {
                    let records: Vec<(String, &[u8])> = xattrs
                        .iter()
                        .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
                        .collect();
                    builder
                        .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                        .unwrap();
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid((*uid).into());
                header.set_gid((*gid).into());
                (name, data)
            }
        };
        set_raw_name(&mut header, name);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// gzip bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn sha256_hex(data: &[u8]) -> String {
    berth_img::oci::Digest::of_bytes(data).hex().to_string()
}

/// An image to write as an OCI layout.
pub struct TestImage {
    /// Uncompressed layer tars, base first.
    pub layers: Vec<Vec<u8>>,
    /// Gzip the layers.
    pub gzip: bool,
    /// The `config` object of the image config.
    pub exec: serde_json::Value,
}

/// Write `image` as an OCI layout at `dir` named `name`; returns the
/// manifest digest (`sha256:...`).
pub fn write_layout(dir: &Path, name: &str, image: &TestImage) -> String {
    let layers: Vec<LayerBlob> = image
        .layers
        .iter()
        .map(|tar| LayerBlob {
            blob: if image.gzip { gzip(tar) } else { tar.clone() },
            media_type: if image.gzip {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            },
            diff_id: format!("sha256:{}", sha256_hex(tar)),
        })
        .collect();
    write_layout_raw(dir, &layers, &image.exec, Some(name), "1.0.0")
}

/// One layer of a hand-made image: the blob as stored, its media type, and
/// the diff_id the config claims for it (right or wrong).
pub struct LayerBlob {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

/// Write an OCI layout exactly as told: any blobs and diff_ids, any
/// `ref.name` (or none), any `oci-layout` version. Returns the manifest digest.
pub fn write_layout_raw(
    dir: &Path,
    layers: &[LayerBlob],
    exec: &serde_json::Value,
    ref_name: Option<&str>,
    version: &str,
) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = sha256_hex(data);
        fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let mut descriptors = Vec::new();
    for layer in layers {
        let (digest, size) = put(&layer.blob);
        descriptors.push(
            serde_json::json!({ "mediaType": layer.media_type, "digest": digest, "size": size }),
        );
    }
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "config": exec, "rootfs": { "type": "layers", "diff_ids": diff_ids } });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": descriptors,
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let mut entry = serde_json::json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                        "digest": manifest_digest, "size": manifest_size });
    if let Some(name) = ref_name {
        entry["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": name });
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [entry] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(
        dir.join("oci-layout"),
        format!(r#"{{"imageLayoutVersion":"{version}"}}"#),
    )
    .unwrap();
    manifest_digest
}

/// What a tree comparison looks at for one path.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: String,
    pub mtime: Option<i64>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Paths hardlinked together share this (the first path of the group).
    pub link_group: Option<PathBuf>,
}

fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 65536];
    // SAFETY: c_path is NUL-terminated and names is a writable buffer of names.len() bytes.
    let len = unsafe { libc::llistxattr(c_path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    let mut out = BTreeMap::new();
    if len <= 0 {
        return out;
    }
    for name in names[..len as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let key = String::from_utf8_lossy(name).into_owned();
        if key.starts_with("security.selinux") {
            continue;
        }
        let c_name = CString::new(name).unwrap();
        let mut value = vec![0u8; 65536];
        // SAFETY: both names are NUL-terminated; value is writable for value.len() bytes.
        let n = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if n >= 0 {
            value.truncate(n as usize);
            out.insert(key, value);
        }
    }
    out
}

/// Snapshot a tree: every path below `root` (relative), with kind, mode,
/// owner, content digest or link target or device, mtime, xattrs and
/// hardlink groups. `dir_mtimes` includes directory mtimes.
pub fn snapshot(root: &Path, dir_mtimes: bool) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let ft = meta.file_type();
            let (kind, content) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", String::new())
            } else if ft.is_symlink() {
                (
                    "symlink",
                    fs::read_link(&path).unwrap().to_string_lossy().into_owned(),
                )
            } else if ft.is_file() {
                ("file", sha256_hex(&fs::read(&path).unwrap()))
            } else if ft.is_char_device() {
                ("char", format!("{}", meta.rdev()))
            } else if ft.is_block_device() {
                ("block", format!("{}", meta.rdev()))
            } else if ft.is_fifo() {
                ("fifo", String::new())
            } else {
                ("other", String::new())
            };
            let link_group = (ft.is_file() && meta.nlink() > 1).then(|| {
                inodes
                    .entry((meta.dev(), meta.ino()))
                    .or_insert(rel.clone())
                    .clone()
            });
            let mtime = (kind != "dir" || dir_mtimes).then_some(meta.mtime());
            out.insert(
                rel,
                Node {
                    kind,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    content,
                    mtime,
                    xattrs: xattrs(&path),
                    link_group,
                },
            );
        }
    }
    out
}

/// Assert two snapshots are equal, showing the first differences.
pub fn assert_same_tree(
    left: &BTreeMap<PathBuf, Node>,
    right: &BTreeMap<PathBuf, Node>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (path, node) in left {
        match right.get(path) {
            None => diffs.push(format!("only in left: {}", path.display())),
            Some(other) if other != node => {
                diffs.push(format!("{}: {node:?} != {other:?}", path.display()))
            }
            _ => {}
        }
    }
    for path in right.keys().filter(|p| !left.contains_key(*p)) {
        diffs.push(format!("only in right: {}", path.display()));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every path and size below `root` (to show a store unchanged).
pub fn listing(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            // The lock file is created on first use and is not content.
            if entry.file_name() != "lock" {
                out.push((entry.path(), if meta.is_dir() { 0 } else { meta.len() }));
            }
        }
    }
    out.sort();
    out
}

/// Run a command, insisting on success.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch store with busybox:latest imported.
pub fn with_busybox() -> Scratch {
    let scratch = Scratch::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles/make-busybox-image.sh");
    let layout = scratch.path().join("busybox-oci");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scratch.ok(&["import", layout.to_str().unwrap(), "busybox:latest"]);
    scratch
}
