//! Round trips with the real peers: images skopeo writes (docker-archive,
//! oci, oci-archive, dir) are read by berth-img; images berth-img exports
//! (OCI archive, docker save archive) are read by skopeo and unpacked by
//! umoci to the same tree.

mod support;

use std::path::{Path, PathBuf};

use support::{assert_same_tree, layer, sh, snapshot, write_layout, Item, Scratch, TestImage};

fn image() -> TestImage {
    let base = layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
        Item::Owned("etc/owned", b"o", 0o640, 1000, 1000, &[]),
        Item::Hardlink("etc/owned-link", "etc/owned"),
        Item::File("bin-su", b"su", 0o4755),
        Item::Symlink("sh", "/bin/busybox"),
        Item::File("old", b"old", 0o644),
    ]);
    let top = layer(&[
        Item::File(".wh.old", b"", 0o644),
        Item::File("new", b"new", 0o600),
    ]);
    TestImage {
        layers: vec![base, top],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["/sh"], "Env": ["A=1"] }),
    }
}

fn skopeo_copy(from: &str, to: &str) {
    sh(
        "skopeo",
        &["--insecure-policy", "copy", "--quiet", from, to],
    );
}

fn umoci_tree(
    layout: &Path,
    tag: &str,
    out: &Path,
) -> std::collections::BTreeMap<PathBuf, support::Node> {
    sh(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:{tag}", layout.display()),
            out.to_str().unwrap(),
        ],
    );
    snapshot(&out.join("rootfs"), false)
}

fn copy_tree(
    scratch: &Scratch,
    image: &str,
    name: &str,
) -> std::collections::BTreeMap<PathBuf, support::Node> {
    let dir = scratch.path().join(name);
    scratch.ok(&["bundle", "--copy", image, dir.to_str().unwrap()]);
    snapshot(&dir.join("rootfs"), false)
}

#[test]
fn images_written_by_skopeo_are_read() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "src", &image());
    let expected = umoci_tree(&layout, "src", &scratch.path().join("umoci"));
    assert!(expected.contains_key(Path::new("new")) && !expected.contains_key(Path::new("old")));
    let source = format!("oci:{}:src", layout.display());
    let p = |name: &str| scratch.path().join(name).to_string_lossy().into_owned();
    let cases = [
        (
            "docker-archive",
            format!("docker-archive:{}:skopeo/docker:v1", p("docker.tar")),
            p("docker.tar"),
            Some("docker.io/skopeo/docker:v1"),
        ),
        (
            "oci-archive",
            format!("oci-archive:{}:skopeo/ociarchive:v1", p("oci.tar")),
            p("oci.tar"),
            Some("skopeo/ociarchive:v1"),
        ),
        (
            "oci",
            format!("oci:{}:skopeo/oci:v1", p("oci-dir")),
            p("oci-dir"),
            Some("skopeo/oci:v1"),
        ),
        ("dir", format!("dir:{}", p("dir")), p("dir"), None),
    ];
    for (what, destination, path, name) in cases {
        skopeo_copy(&source, &destination);
        let out = scratch.ok(&["import", &path]);
        let image = match name {
            Some(name) => {
                assert!(
                    out.starts_with(name),
                    "{what}: import named it {out:?}, expected {name}"
                );
                name.to_string()
            }
            None => out.split_whitespace().nth(1).unwrap().to_string(),
        };
        let inspect: serde_json::Value =
            serde_json::from_str(&scratch.ok(&["inspect", &image])).unwrap();
        assert_eq!(
            inspect["config"]["config"]["Env"],
            serde_json::json!(["A=1"]),
            "{what}"
        );
        assert_same_tree(
            &expected,
            &copy_tree(&scratch, &image, &format!("bundle-{what}")),
            what,
        );
    }
}

#[test]
fn exports_are_read_by_skopeo_and_unpacked_by_umoci() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "src", &image());
    let expected = umoci_tree(&layout, "src", &scratch.path().join("umoci"));
    scratch.ok(&["import", layout.to_str().unwrap(), "exported:v2"]);
    for (format, transport) in [("oci", "oci-archive"), ("docker", "docker-archive")] {
        let archive = scratch.path().join(format!("{format}.tar"));
        scratch.ok(&[
            "export",
            "--format",
            format,
            "exported:v2",
            archive.to_str().unwrap(),
        ]);
        let inspect: serde_json::Value = serde_json::from_str(&sh(
            "skopeo",
            &["inspect", &format!("{transport}:{}", archive.display())],
        ))
        .unwrap();
        assert_eq!(inspect["Env"], serde_json::json!(["A=1"]), "{format}");
        assert_eq!(
            inspect["Layers"].as_array().map(Vec::len),
            Some(2),
            "{format}"
        );
        let copied = scratch.path().join(format!("copied-{format}"));
        skopeo_copy(
            &format!("{transport}:{}", archive.display()),
            &format!("oci:{}:back", copied.display()),
        );
        let tree = umoci_tree(
            &copied,
            "back",
            &scratch.path().join(format!("umoci-{format}")),
        );
        assert_same_tree(&expected, &tree, format);
    }
    // The docker archive names the image.
    let docker = scratch.path().join("docker.tar");
    let listing = sh("tar", &["-xOf", docker.to_str().unwrap(), "manifest.json"]);
    assert!(
        listing.contains("\"RepoTags\":[\"exported:v2\"]"),
        "{listing}"
    );
    // And comes back in through standard input, as `docker save | berth-img import -` would.
    let other = Scratch::new();
    let out = std::process::Command::new(support::berth_img())
        .args(["--store", other.store().to_str().unwrap(), "import", "-"])
        .stdin(std::fs::File::open(&docker).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("exported:v2 "));
    assert_same_tree(
        &expected,
        &copy_tree(&other, "exported:v2", "from-stdin"),
        "stdin",
    );
    assert_eq!(
        std::fs::read_dir(other.store().join("tmp"))
            .unwrap()
            .count(),
        0,
        "spool left behind"
    );
}
