//! Hostile layers: each case fails the import with a clear one-line error,
//! leaves the host untouched (nothing appears outside the store) and the
//! store unchanged.

mod support;

use std::fs;
use std::path::Path;

use support::{layer, listing, write_layout, Item, Scratch, TestImage};

/// Import a layout made of `items` and check it is refused with `expect` in
/// the message, the `bait` directory outside still empty and the store as it was.
fn refused(items: &[Item<'_>], bait: &Path, expect: &str) {
    refused_layer(layer(items), &[], expect);
    assert_eq!(
        fs::read_dir(bait).unwrap().count(),
        0,
        "something was written outside: {:?}",
        fs::read_dir(bait).unwrap().collect::<Vec<_>>()
    );
}

/// Import a layout whose one layer is `tar` (with extra import `args`) and
/// check it is refused with `expect` in the message and the store as it was.
fn refused_layer(tar: Vec<u8>, args: &[&str], expect: &str) {
    let scratch = Scratch::new();
    scratch.ok(&["images"]);
    let before = listing(&scratch.store());
    let layout = scratch.path().join("layout");
    let image = TestImage {
        layers: vec![tar],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["sh"] }),
    };
    write_layout(&layout, "evil:latest", &image);
    let mut command = vec!["import"];
    command.extend_from_slice(args);
    command.push(layout.to_str().unwrap());
    let error = scratch.fails(&command);
    assert!(
        error.contains(expect),
        "error should mention {expect:?}: {error}"
    );
    assert_eq!(listing(&scratch.store()), before, "store changed");
}

/// A directory outside the store that a hostile layer aims at.
fn new_bait() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-img-bait-")
        .tempdir_in("/tmp")
        .unwrap()
}

fn up_to_root(path: &Path) -> String {
    format!("../../../../../../../../../..{}", path.display())
}

#[test]
fn dotdot_name_is_refused() {
    let bait = new_bait();
    let name = format!("{}/pwned", up_to_root(bait.path()));
    refused(
        &[Item::File(&name, b"x", 0o644)],
        bait.path(),
        "'..' component",
    );
}

#[test]
fn absolute_name_is_refused() {
    let bait = new_bait();
    let name = format!("{}/pwned", bait.path().display());
    refused(
        &[Item::File(&name, b"x", 0o644)],
        bait.path(),
        "absolute path",
    );
}

#[test]
fn absolute_symlink_then_entry_is_refused() {
    let bait = new_bait();
    let target = bait.path().to_str().unwrap();
    refused(
        &[
            Item::Symlink("evil", target),
            Item::File("evil/pwned", b"x", 0o644),
        ],
        bait.path(),
        "symlink that leads out",
    );
}

#[test]
fn relative_symlink_then_entry_is_refused() {
    let bait = new_bait();
    let target = up_to_root(bait.path());
    refused(
        &[
            Item::Symlink("evil", &target),
            Item::File("evil/pwned", b"x", 0o644),
        ],
        bait.path(),
        "symlink that leads out",
    );
}

#[test]
fn symlink_then_directory_then_entry_is_refused() {
    // The CVE-2021-38511 shape: a symlink, a directory entry through it, a file below.
    let bait = new_bait();
    let target = bait.path().to_str().unwrap();
    refused(
        &[
            Item::Symlink("evil", target),
            Item::Dir("evil/sub", 0o755),
            Item::File("evil/sub/pwned", b"x", 0o644),
        ],
        bait.path(),
        "symlink that leads out",
    );
}

#[test]
fn hardlink_outside_is_refused() {
    let bait = new_bait();
    fs::write(bait.path().join("secret"), b"s").unwrap();
    let target = format!("{}/secret", up_to_root(bait.path()));
    let scratch_bait = tempfile::Builder::new()
        .prefix("berth-img-bait-")
        .tempdir_in("/tmp")
        .unwrap();
    refused(
        &[Item::Hardlink("link", &target)],
        scratch_bait.path(),
        "hardlink target leads out",
    );
    assert_eq!(
        fs::metadata(bait.path().join("secret"))
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
            .unwrap(),
        1
    );
}

#[test]
fn hardlink_through_symlink_is_refused() {
    let bait = new_bait();
    fs::write(bait.path().join("secret"), b"s").unwrap();
    let other = new_bait();
    refused(
        &[
            Item::Symlink("dir", bait.path().to_str().unwrap()),
            Item::Hardlink("link", "dir/secret"),
        ],
        other.path(),
        "symlink that leads out",
    );
    assert_eq!(
        fs::metadata(bait.path().join("secret"))
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
            .unwrap(),
        1
    );
}

#[test]
fn bare_whiteout_is_refused() {
    let bait = new_bait();
    refused(
        &[Item::Dir("d", 0o755), Item::File("d/.wh.", b"", 0o644)],
        bait.path(),
        "whiteout without a valid name",
    );
}

#[test]
fn huge_pax_header_is_refused() {
    // A 2 MiB PAX record in front of one file.
    let mut builder = tar::Builder::new(Vec::new());
    let big = vec![b'a'; 2 << 20];
    builder
        .append_pax_extensions([("SCHILY.xattr.user.big", big.as_slice())])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_path("f").unwrap();
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
    let tar = builder.into_inner().unwrap();
    refused_layer(tar, &[], "header is larger than the limit");
}

#[test]
fn decompression_bomb_is_stopped_by_the_size_limit() {
    // 24 MiB of zeros in one file gzip to about 24 KiB; the limit is 4 MiB.
    let zeros = vec![0u8; 24 << 20];
    let tar = layer(&[Item::File("bomb", &zeros, 0o644)]);
    refused_layer(
        tar,
        &["--max-layer-size", "4194304"],
        "uncompressed size is larger than the limit",
    );
}

#[test]
fn device_nodes_are_skipped_without_root() {
    // As nobody, a layer's device node is not made (and the import still works).
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(
        &layout,
        "dev:latest",
        &TestImage {
            layers: vec![layer(&[
                Item::Char("null", 1, 3),
                Item::File("f", b"x", 0o644),
            ])],
            gzip: false,
            exec: serde_json::json!({}),
        },
    );
    let store = scratch.store();
    fs::create_dir_all(&store).unwrap();
    support::sh("chown", &["-R", "65534:65534", store.to_str().unwrap()]);
    support::sh("chmod", &["755", scratch.path().to_str().unwrap()]);
    support::sh("chmod", &["-R", "a+rX", layout.to_str().unwrap()]);
    // A copy of the binary nobody can reach, wherever the build tree is.
    let binary = scratch.path().join("berth-img");
    fs::copy(support::berth_img(), &binary).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            binary.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "import",
            layout.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layers: Vec<_> = fs::read_dir(store.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(layers.len(), 1);
    assert!(layers[0].join("f").is_file());
    assert!(
        fs::symlink_metadata(layers[0].join("null")).is_err(),
        "device node made without root"
    );
}

#[test]
fn layout_blob_symlinked_outside_is_refused() {
    // A layout whose config blob is a symlink to a host file: not read.
    let scratch = Scratch::new();
    scratch.ok(&["images"]);
    let before = listing(&scratch.store());
    let layout = scratch.path().join("layout");
    let manifest = write_layout(
        &layout,
        "evil:latest",
        &TestImage {
            layers: vec![layer(&[Item::File("f", b"x", 0o644)])],
            gzip: true,
            exec: serde_json::json!({}),
        },
    );
    let manifest_path = layout.join("blobs/sha256").join(&manifest[7..]);
    let secret = new_bait();
    fs::write(
        secret.path().join("secret"),
        fs::read(&manifest_path).unwrap(),
    )
    .unwrap();
    fs::remove_file(&manifest_path).unwrap();
    std::os::unix::fs::symlink(secret.path().join("secret"), &manifest_path).unwrap();
    let error = scratch.fails(&["import", layout.to_str().unwrap()]);
    assert!(error.contains("leads out of the source"), "{error}");
    assert_eq!(listing(&scratch.store()), before);
}
