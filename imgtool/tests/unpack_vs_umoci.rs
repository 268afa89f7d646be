//! The unpacked tree compared with umoci's unpack of the same image: entry
//! kinds, modes (setuid too), ownership, mtimes, xattrs, hardlinks, devices,
//! fifos, and whiteouts and opaque directories across layers. Both the
//! flattened copy and the overlay view of a bundle must match.

mod support;

use std::path::Path;

use support::{assert_same_tree, layer, sh, snapshot, write_layout, Item, Scratch, TestImage};

/// Three layers exercising every entry kind and whiteouts.
fn image() -> TestImage {
    let base = layer(&[
        Item::Dir("bin", 0o755),
        Item::File("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        Item::File("bin/su", b"setuid", 0o4755),
        Item::File("bin/sg", b"setgid", 0o2711),
        Item::Dir("tmp", 0o1777),
        Item::Dir("etc", 0o755),
        Item::File("etc/secret", b"s", 0o600),
        Item::Owned("etc/owned", b"o", 0o640, 1000, 1001, &[]),
        Item::Owned(
            "etc/xattr",
            b"x",
            0o644,
            0,
            0,
            &[("user.berth", b"value"), ("trusted.other", b"t")],
        ),
        Item::Hardlink("etc/hardlink", "etc/owned"),
        Item::Symlink("etc/link", "../bin/tool"),
        Item::Symlink("etc/abs", "/bin/tool"),
        Item::Dir("dev", 0o755),
        Item::Char("dev/null", 1, 3),
        Item::Fifo("dev/fifo"),
        Item::Dir("gone", 0o755),
        Item::File("gone/a", b"a", 0o644),
        Item::Dir("opaque", 0o755),
        Item::File("opaque/old", b"old", 0o644),
        Item::Dir("opaque/olddir", 0o700),
        Item::File("opaque/olddir/f", b"f", 0o644),
        Item::File("replaced", b"file", 0o644),
        Item::File("deleted", b"d", 0o644),
    ]);
    let middle = layer(&[
        Item::File(".wh.deleted", b"", 0o644),
        Item::File(".wh.gone", b"", 0o644),
        Item::Dir("opaque", 0o750),
        Item::File("opaque/.wh..wh..opq", b"", 0o644),
        Item::File("opaque/new", b"new", 0o644),
        Item::Dir("replaced", 0o711),
        Item::File("replaced/inside", b"i", 0o644),
        Item::File("bin/tool", b"#!/bin/sh\necho tool v2\n", 0o755),
    ]);
    let top = layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/.wh.secret", b"", 0o644),
        Item::File("gone", b"back as a file", 0o600),
    ]);
    TestImage {
        layers: vec![base, middle, top],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["/bin/tool"] }),
    }
}

fn umoci_rootfs(layout: &Path, name: &str, out: &Path) -> std::path::PathBuf {
    sh(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:{name}", layout.display()),
            out.to_str().unwrap(),
        ],
    );
    out.join("rootfs")
}

#[test]
fn copy_and_overlay_bundles_match_umoci_unpack() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "kinds", &image());
    let umoci = umoci_rootfs(&layout, "kinds", &scratch.path().join("umoci"));
    scratch.ok(&["import", layout.to_str().unwrap(), "kinds:latest"]);
    let copy = scratch.path().join("copy");
    scratch.ok(&["bundle", "--copy", "kinds", copy.to_str().unwrap()]);
    let overlay = scratch.path().join("overlay");
    scratch.ok(&["bundle", "kinds", overlay.to_str().unwrap()]);

    let expected = snapshot(&umoci, false);
    // Spot checks, so that a tree compare of two wrong trees cannot pass.
    assert_eq!(expected[Path::new("bin/su")].mode, 0o4755);
    assert_eq!(expected[Path::new("etc/owned")].uid, 1000);
    assert!(!expected.contains_key(Path::new("opaque/old")));
    assert!(!expected.contains_key(Path::new("etc/secret")));
    assert_eq!(
        expected[Path::new("etc/xattr")]
            .xattrs
            .get("user.berth")
            .map(Vec::as_slice),
        Some(&b"value"[..])
    );

    assert_same_tree(
        &expected,
        &snapshot(&copy.join("rootfs"), false),
        "bundle --copy vs umoci unpack",
    );
    // The overlay view hides whiteouts; hardlink groups and dir mtimes are the overlay's own.
    let strip = |mut tree: std::collections::BTreeMap<std::path::PathBuf, support::Node>| {
        for node in tree.values_mut() {
            node.link_group = None;
            node.xattrs.retain(|k, _| !k.starts_with("trusted.overlay"));
        }
        tree
    };
    assert_same_tree(
        &strip(expected.clone()),
        &strip(snapshot(&overlay.join("rootfs"), false)),
        "overlay bundle vs umoci unpack",
    );
    scratch.ok(&["unbundle", overlay.to_str().unwrap()]);
    assert!(!overlay.exists());
}

#[test]
fn directory_mtimes_and_root_entry_match_umoci() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    let tar = layer(&[
        Item::Dir("./", 0o755),
        Item::Dir("./a", 0o755),
        Item::Dir("./a/b", 0o700),
        Item::File("./a/b/f", b"f", 0o644),
    ]);
    write_layout(
        &layout,
        "dirs",
        &TestImage {
            layers: vec![tar],
            gzip: false,
            exec: serde_json::json!({ "Cmd": ["x"] }),
        },
    );
    let umoci = umoci_rootfs(&layout, "dirs", &scratch.path().join("umoci"));
    scratch.ok(&["import", layout.to_str().unwrap(), "dirs:latest"]);
    let copy = scratch.path().join("copy");
    scratch.ok(&["bundle", "--copy", "dirs", copy.to_str().unwrap()]);
    let expected = snapshot(&umoci, true);
    assert_eq!(expected[Path::new("a/b")].mtime, Some(1_600_000_000));
    assert_same_tree(
        &expected,
        &snapshot(&copy.join("rootfs"), true),
        "directory mtimes",
    );
}

#[test]
fn a_whiteout_never_hides_its_own_layers_entry() {
    // The image spec: whiteouts apply to lower layers only, whatever the order in the tar.
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    let base = layer(&[
        Item::File("x", b"lower", 0o644),
        Item::File("y", b"lower", 0o644),
    ]);
    let top = layer(&[
        Item::File("x", b"upper", 0o644),
        Item::File(".wh.x", b"", 0o644),
        Item::File(".wh.y", b"", 0o644),
    ]);
    write_layout(
        &layout,
        "own",
        &TestImage {
            layers: vec![base, top],
            gzip: false,
            exec: serde_json::json!({ "Cmd": ["x"] }),
        },
    );
    scratch.ok(&["import", layout.to_str().unwrap(), "own:1"]);
    for copy in [true, false] {
        let bundle = scratch.path().join(format!("bundle-{copy}"));
        let mut args = vec!["bundle", "own:1", bundle.to_str().unwrap()];
        if copy {
            args.insert(1, "--copy");
        }
        scratch.ok(&args);
        assert_eq!(
            std::fs::read(bundle.join("rootfs/x")).unwrap(),
            b"upper",
            "copy={copy}"
        );
        assert!(!bundle.join("rootfs/y").exists(), "copy={copy}");
        scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
    }
}
