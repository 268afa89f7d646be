//! Pushing with the client, reading back with skopeo (and the client).

mod support;

use std::cell::Cell;
use std::io::Read;

use berth_registry::{
    BlobPush, Client, ClientOptions, Error, NoProgress, Platform, Reference, VerifyError,
};
use support::{Blob, Image, Registry, RegistryAuth, TempDir};

fn push_image(client: &Client, reference: &Reference, image: &Image) {
    let outcomes = support::push_image(client, reference, image).unwrap();
    assert!(
        outcomes.iter().all(|o| *o == BlobPush::Uploaded),
        "{outcomes:?}"
    );
}

/// skopeo's view of the pushed image: its raw manifest, and every blob as
/// copied to an OCI layout, equal to what was pushed.
fn assert_skopeo_reads_back(registry: &Registry, repo_tag: &str, image: &Image) {
    let source = format!("docker://{}/{repo_tag}", registry.host());
    let raw = support::skopeo(&["inspect", "--raw", "--tls-verify=false", &source]);
    assert_eq!(
        raw, image.manifest.bytes,
        "skopeo inspect --raw sees the pushed manifest"
    );

    let layout = TempDir::new("readback");
    let dest = format!("oci:{}:t", layout.path().display());
    support::skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &source,
        &dest,
    ]);
    for blob in image.blobs() {
        assert_eq!(
            support::layout_blob(layout.path(), &blob.digest),
            blob.bytes,
            "{}",
            blob.media_type
        );
    }
}

#[test]
fn monolithic_push_is_read_back_by_skopeo() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    let reference = registry.reference("pushed/mono:v1");
    let client = Client::new(ClientOptions::default());
    push_image(&client, &reference, &image);
    assert_skopeo_reads_back(&registry, "pushed/mono:v1", &image);

    // A second push finds every blob present and sends nothing.
    let layer = &image.layers[2];
    let last = Cell::new((0, 0));
    let progress = |done, total| last.set((done, total));
    let size = layer.bytes.len() as u64;
    let outcome = client
        .push_blob(
            &reference,
            &layer.digest,
            size,
            layer.bytes.as_slice(),
            &progress,
        )
        .unwrap();
    assert_eq!(outcome, BlobPush::AlreadyExists);
    assert_eq!(last.get(), (size, size));

    // And the client reads back its own push.
    let manifest = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(manifest.bytes, image.manifest.bytes);
}

#[test]
fn chunked_push_is_read_back_by_skopeo() {
    let registry = Registry::start(RegistryAuth::None);
    let big = support::layer("big.bin", &vec![7u8; 300_000], None);
    let image = Image::with_layers("amd64", vec![Blob::new(support::LAYER_TAR, big)]);
    let reference = registry.reference("pushed/chunked:v1");
    let client = Client::new(ClientOptions {
        chunk_size: Some(64 * 1024),
        ..ClientOptions::default()
    });

    let layer = &image.layers[0];
    let updates = Cell::new(0u32);
    let last = Cell::new((0, 0));
    let progress = |done, total| {
        updates.set(updates.get() + 1);
        last.set((done, total));
    };
    let size = layer.bytes.len() as u64;
    client
        .push_blob(
            &reference,
            &layer.digest,
            size,
            layer.bytes.as_slice(),
            &progress,
        )
        .unwrap();
    assert_eq!(last.get(), (size, size));
    assert!(
        updates.get() > 5,
        "progress reported along the way ({})",
        updates.get()
    );
    client
        .push_blob(
            &reference,
            &image.config.digest,
            image.config.bytes.len() as u64,
            image.config.bytes.as_slice(),
            &NoProgress,
        )
        .unwrap();
    client
        .put_manifest(
            &reference,
            &image.manifest.media_type,
            &image.manifest.bytes,
        )
        .unwrap();
    assert_skopeo_reads_back(&registry, "pushed/chunked:v1", &image);
}

/// A reader that fails after `good` bytes.
struct FailingReader<'a> {
    bytes: &'a [u8],
    good: usize,
}

impl Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.good).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn content_that_does_not_match_its_descriptor_is_not_pushed() {
    let registry = Registry::start(RegistryAuth::None);
    let reference = registry.reference("pushed/bad:v1");
    let good = support::layer("x.txt", b"the real content\n", None);
    let blob = Blob::new(support::LAYER_TAR, good);
    let size = blob.bytes.len() as u64;
    let mut wrong = blob.bytes.clone();
    wrong[0] ^= 1;

    for chunk_size in [None, Some(4096)] {
        let client = Client::new(ClientOptions {
            chunk_size,
            ..ClientOptions::default()
        });
        let error = client
            .push_blob(
                &reference,
                &blob.digest,
                size,
                wrong.as_slice(),
                &NoProgress,
            )
            .unwrap_err();
        assert!(
            matches!(error, Error::Verify(VerifyError::DigestMismatch { .. })),
            "{chunk_size:?}: {error:?}"
        );

        let short = &blob.bytes[..blob.bytes.len() - 10];
        let error = client
            .push_blob(&reference, &blob.digest, size, short, &NoProgress)
            .unwrap_err();
        assert!(
            matches!(error, Error::Verify(VerifyError::Truncated { .. })),
            "{chunk_size:?}: {error:?}"
        );

        let failing = FailingReader {
            bytes: &blob.bytes,
            good: 5000,
        };
        let error = client
            .push_blob(&reference, &blob.digest, size, failing, &NoProgress)
            .unwrap_err();
        assert!(
            matches!(error, Error::Source { .. }),
            "{chunk_size:?}: {error:?}"
        );
        assert!(error.to_string().contains("disk on fire"), "{error}");

        assert!(
            !client.blob_exists(&reference, &blob.digest).unwrap(),
            "nothing half-pushed became a blob"
        );
    }

    // Too long only shows in chunked mode, where the end is probed.
    let client = Client::new(ClientOptions {
        chunk_size: Some(4096),
        ..ClientOptions::default()
    });
    let mut long = blob.bytes.clone();
    long.extend_from_slice(b"extra");
    let error = client
        .push_blob(&reference, &blob.digest, size, long.as_slice(), &NoProgress)
        .unwrap_err();
    assert!(
        matches!(error, Error::Verify(VerifyError::TooLong { .. })),
        "{error:?}"
    );
    assert!(!client.blob_exists(&reference, &blob.digest).unwrap());

    // A manifest pinned to a digest it does not have is refused before sending.
    let image = Image::with_layers("amd64", vec![blob.clone()]);
    let pinned = reference.with_digest(blob.digest.clone());
    let error = client
        .put_manifest(&pinned, &image.manifest.media_type, &image.manifest.bytes)
        .unwrap_err();
    assert!(
        matches!(error, Error::ManifestDigestMismatch { .. }),
        "{error:?}"
    );
}

#[test]
fn pushed_multi_arch_index_is_resolved_by_skopeo_and_the_client() {
    let registry = Registry::start(RegistryAuth::None);
    let amd64 = Image::three_layers("amd64");
    let arm64 = Image::three_layers("arm64");
    let index = support::index(&[(&arm64, "arm64"), (&amd64, "amd64")]);
    let client = Client::new(ClientOptions::default());
    let reference = registry.reference("pushed/multi:v1");
    for image in [&amd64, &arm64] {
        // Children by digest, the index by tag.
        let by_digest = reference.with_digest(image.manifest.digest.clone());
        support::push_image(&client, &by_digest, image).unwrap();
    }
    client
        .put_manifest(&reference, &index.media_type, &index.bytes)
        .unwrap();

    let source = format!("docker://{}/pushed/multi:v1", registry.host());
    let raw = support::skopeo(&["inspect", "--raw", "--tls-verify=false", &source]);
    assert_eq!(raw, index.bytes);
    let config = support::skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &source,
    ]);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "arm64");

    let picked = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(picked.digest, amd64.manifest.digest);
}

#[test]
fn mount_links_a_blob_from_another_repository() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "source/app:v1", None);
    let client = Client::new(ClientOptions::default());
    let target = registry.reference("target/app:v1");
    let layer = &image.layers[0];

    assert!(!client.blob_exists(&target, &layer.digest).unwrap());
    assert!(client
        .mount_blob(&target, &layer.digest, "source/app")
        .unwrap());
    assert!(client.blob_exists(&target, &layer.digest).unwrap());
    assert_eq!(
        support::pull_blob(&client, &target, layer).unwrap(),
        layer.bytes
    );

    // A source without the blob: declined, and nothing appears.
    let absent = Blob::new(support::LAYER_TAR, b"never pushed".to_vec());
    assert!(!client
        .mount_blob(&target, &absent.digest, "source/app")
        .unwrap());
    assert!(!client.blob_exists(&target, &absent.digest).unwrap());
}
