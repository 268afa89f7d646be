//! pull and push against Debian's docker-registry on loopback, with skopeo
//! on the other side; an unreachable registry and an unknown image give a
//! clear error and leave the store unchanged.

mod support;

use std::net::TcpListener;

use support::registry::Registry;
use support::{
    assert_same_tree, layer, listing, sh, snapshot, write_layout, Item, Scratch, TestImage,
};

fn image() -> TestImage {
    let base = layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/motd", b"pushed\n", 0o644),
        Item::Owned("owned", b"o", 0o4750, 7, 8, &[]),
        Item::Symlink("link", "etc/motd"),
    ]);
    let top = layer(&[
        Item::File("etc/.wh.motd", b"", 0o644),
        Item::File("added", &[3u8; 300_000], 0o600),
    ]);
    TestImage {
        layers: vec![base, top],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["/added"] }),
    }
}

#[test]
fn push_then_pull_round_trips_through_the_registry_and_skopeo() {
    let scratch = Scratch::new();
    let registry = Registry::start(scratch.path());
    let layout = scratch.path().join("layout");
    write_layout(&layout, "src", &image());
    sh(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:src", layout.display()),
            scratch.path().join("expected").to_str().unwrap(),
        ],
    );
    let expected = snapshot(&scratch.path().join("expected/rootfs"), false);
    scratch.ok(&["import", layout.to_str().unwrap(), "local/img:1"]);

    // berth-img push, skopeo reads.
    let remote = format!("127.0.0.1:{}/berth/img:1", registry.port);
    assert!(scratch
        .ok(&["push", "local/img:1", &remote])
        .contains("sha256:"));
    let inspect: serde_json::Value = serde_json::from_str(&sh(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{remote}"),
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(2));
    let copied = scratch.path().join("copied");
    sh(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{remote}"),
            &format!("oci:{}:back", copied.display()),
        ],
    );
    sh(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:back", copied.display()),
            scratch.path().join("back").to_str().unwrap(),
        ],
    );
    assert_same_tree(
        &expected,
        &snapshot(&scratch.path().join("back/rootfs"), false),
        "pushed, read by skopeo",
    );

    // skopeo pushes, berth-img pulls into another store.
    let other = format!("127.0.0.1:{}/skopeo/img:2", registry.port);
    sh(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:src", layout.display()),
            &format!("docker://{other}"),
        ],
    );
    let puller = Scratch::new();
    let out = puller.ok(&["pull", &other]);
    assert!(out.starts_with(&other), "{out}");
    let bundle = puller.path().join("bundle");
    puller.ok(&["bundle", "--copy", &other, bundle.to_str().unwrap()]);
    assert_same_tree(
        &expected,
        &snapshot(&bundle.join("rootfs"), false),
        "pulled",
    );
    // What berth-img pushed pulls back too, by digest, under a given name.
    let digest = inspect["Digest"].as_str().unwrap();
    let by_digest = format!("127.0.0.1:{}/berth/img@{digest}", registry.port);
    assert!(puller
        .ok(&["pull", &by_digest, "again:1"])
        .starts_with("again:1 "));
}

#[test]
fn unreachable_registry_and_unknown_image_leave_the_store_unchanged() {
    let scratch = Scratch::new();
    let registry = Registry::start(scratch.path());
    scratch.ok(&["images"]);
    let before = listing(&scratch.store());
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = scratch.fails(&["pull", &format!("127.0.0.1:{closed}/x/y:1")]);
    assert!(error.contains("unreachable"), "{error}");
    let error = scratch.fails(&["pull", &format!("127.0.0.1:{}/no/such:1", registry.port)]);
    assert!(error.contains("no/such"), "{error}");
    let error = scratch.fails(&[
        "push",
        "nosuch:1",
        &format!("127.0.0.1:{}/x:1", registry.port),
    ]);
    assert!(error.contains("not found"), "{error}");
    assert_eq!(listing(&scratch.store()), before);
}
