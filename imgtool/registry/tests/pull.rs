//! Pulling from Debian's docker-registry, populated by skopeo.

mod support;

use std::cell::Cell;

use berth_registry::{
    Client, ClientOptions, Digest, Error, ManifestError, NoProgress, Platform, Reference,
    VerifyError,
};
use support::{Image, Listen, Registry, RegistryAuth};

fn client() -> Client {
    Client::new(ClientOptions::default())
}

#[test]
fn pulls_manifest_and_gzip_zstd_and_raw_layers_that_skopeo_pushed() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "app/three:v1", None);
    let reference = registry.reference("app/three:v1");
    let client = client();

    let manifest = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(manifest.media_type, berth_registry::OCI_MANIFEST);
    assert_eq!(
        manifest.digest, image.manifest.digest,
        "skopeo keeps the manifest bytes"
    );
    assert_eq!(manifest.bytes, image.manifest.bytes);

    for blob in image.layers.iter().chain([&image.config]) {
        let mut sink = Vec::new();
        let last = Cell::new((0, 0));
        let progress = |done: u64, total: u64| last.set((done, total));
        client
            .get_blob(
                &reference,
                &blob.digest,
                blob.bytes.len() as u64,
                &mut sink,
                &progress,
            )
            .unwrap();
        assert_eq!(
            sink, blob.bytes,
            "{} passes through unchanged",
            blob.media_type
        );
        let size = blob.bytes.len() as u64;
        assert_eq!(last.get(), (size, size), "progress reaches the total");
        assert!(client.blob_exists(&reference, &blob.digest).unwrap());
    }

    // Pinned by digest, the same manifest comes back and is verified.
    let pinned = reference.with_digest(image.manifest.digest.clone());
    assert_eq!(
        client.fetch_manifest(&pinned).unwrap().bytes,
        image.manifest.bytes
    );
}

#[test]
fn multi_arch_index_resolves_to_the_wanted_platform() {
    let registry = Registry::start(RegistryAuth::None);
    let amd64 = Image::three_layers("amd64");
    let arm64 = Image::three_layers("arm64");
    let index = support::skopeo_push_index(
        &registry,
        &[(&arm64, "arm64"), (&amd64, "amd64")],
        "multi/app:latest",
        &["--preserve-digests"],
    );

    let reference = registry.reference("multi/app");
    let client = client();
    let top = client.fetch_manifest(&reference).unwrap();
    assert_eq!(top.media_type, berth_registry::OCI_INDEX);
    assert_eq!(top.digest, index.digest);

    let host = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(
        Platform::host().architecture,
        "amd64",
        "this test machine is amd64"
    );
    assert_eq!(host.digest, amd64.manifest.digest);
    assert_eq!(host.media_type, berth_registry::OCI_MANIFEST);

    let arm = client
        .get_manifest(&reference, &Platform::parse("linux/arm64/v8").unwrap())
        .unwrap();
    assert_eq!(arm.digest, arm64.manifest.digest);

    let missing = client.get_manifest(&reference, &Platform::parse("linux/s390x").unwrap());
    match missing {
        Err(Error::Manifest(ManifestError::NoMatchingPlatform { available, .. })) => {
            assert_eq!(available, "linux/arm64, linux/amd64")
        }
        other => panic!("expected NoMatchingPlatform, got {other:?}"),
    }
}

#[test]
fn unknown_tag_and_unknown_blob_are_named() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "app/known:v1", None);
    let client = client();

    let missing_tag = registry.reference("app/known:nope");
    let error = client
        .get_manifest(&missing_tag, &Platform::host())
        .unwrap_err();
    assert!(matches!(error, Error::ManifestUnknown { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("app/known:nope") && !message.contains('\n'),
        "{message}"
    );

    let missing_repo = registry.reference("app/never:v1");
    let error = client.fetch_manifest(&missing_repo).unwrap_err();
    assert!(matches!(error, Error::ManifestUnknown { .. }), "{error:?}");

    let reference = registry.reference("app/known:v1");
    let absent = Digest::of_bytes(b"not in the registry");
    let error = client
        .get_blob(&reference, &absent, 19, Vec::new(), &NoProgress)
        .unwrap_err();
    assert!(
        matches!(&error, Error::BlobUnknown { digest, .. } if *digest == absent),
        "{error:?}"
    );
    assert!(!client.blob_exists(&reference, &absent).unwrap());
}

#[test]
fn wrong_size_or_digest_is_never_success_and_never_overfills_the_sink() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "app/verify:v1", None);
    let reference = registry.reference("app/verify:v1");
    let layer = &image.layers[0];
    let size = layer.bytes.len() as u64;
    let client = client();

    // The registry has more bytes than we were told: refused before writing.
    let mut sink = Vec::new();
    let error = client
        .get_blob(&reference, &layer.digest, size - 1, &mut sink, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(error, Error::Verify(VerifyError::TooLong { .. })),
        "{error:?}"
    );
    assert!(
        sink.is_empty(),
        "nothing is written when Content-Length is wrong"
    );

    // Fewer bytes than we were told.
    let error = client
        .get_blob(&reference, &layer.digest, size + 1, Vec::new(), &NoProgress)
        .unwrap_err();
    assert!(
        matches!(error, Error::Verify(VerifyError::Truncated { actual, .. }) if actual == size),
        "{error:?}"
    );

    // Control: the right size succeeds.
    let mut sink = Vec::new();
    client
        .get_blob(&reference, &layer.digest, size, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!(sink, layer.bytes);
}

#[test]
fn content_corrupted_in_the_registry_is_refused() {
    let registry = Registry::start(RegistryAuth::None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "app/corrupt:v1", None);
    let reference = registry.reference("app/corrupt:v1");
    let client = client();

    // Same length, one byte flipped, behind the registry's back.
    let layer = &image.layers[2];
    let path = registry.blob_data_path(&layer.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let error = support::pull_blob(&client, &reference, layer).unwrap_err();
    assert!(
        matches!(&error, Error::Verify(VerifyError::DigestMismatch { digest, .. }) if *digest == layer.digest),
        "{error:?}"
    );

    // A manifest whose stored bytes no longer hash to its digest.
    let path = registry.blob_data_path(&image.manifest.digest);
    let mut manifest = std::fs::read(&path).unwrap();
    manifest.push(b'\n');
    std::fs::write(&path, &manifest).unwrap();
    let error = client
        .get_manifest(&reference, &Platform::host())
        .unwrap_err();
    assert!(
        matches!(error, Error::ManifestDigestMismatch { .. }),
        "{error:?}"
    );
}

#[test]
fn unreachable_registry_names_the_address() {
    let port = support::free_port();
    let reference = Reference::parse(&format!("127.0.0.1:{port}/app:v1")).unwrap();
    let error = client()
        .get_manifest(&reference, &Platform::host())
        .unwrap_err();
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && !message.contains('\n'),
        "{message}"
    );
}

#[test]
fn remote_hosts_never_fall_back_to_plain_http() {
    // A name that does not resolve: https is tried, http is not.
    let reference = Reference::parse("registry.invalid/app:v1").unwrap();
    let error = client().fetch_manifest(&reference).unwrap_err();
    match error {
        Error::Unreachable { url, .. } => assert!(url.starts_with("https://"), "{url}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[test]
fn untrusted_https_needs_the_insecure_option() {
    let registry = Registry::start_with(
        RegistryAuth::None,
        Listen {
            tls: true,
            ..Listen::default()
        },
    );
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "tls/app:v1", None);
    let reference = registry.reference("tls/app:v1");

    // The certificate is trusted by no system root: https fails, and the
    // error keeps that reason next to the plain-http attempt that followed.
    let error = client().fetch_manifest(&reference).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            Error::NotARegistry { .. } | Error::Unreachable { .. }
        ),
        "{error:?}"
    );
    assert!(
        message.contains(&format!("https://{}/v2/", registry.host())),
        "{message}"
    );

    // With `insecure`, the same registry works over unverified https.
    let insecure = Client::new(ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    });
    let manifest = insecure
        .get_manifest(&reference, &Platform::host())
        .unwrap();
    assert_eq!(manifest.digest, image.manifest.digest);
    let layer = &image.layers[0];
    assert_eq!(
        support::pull_blob(&insecure, &reference, layer).unwrap(),
        layer.bytes
    );
}

#[test]
fn ipv6_loopback_registry_over_plain_http() {
    let registry = Registry::start_with(
        RegistryAuth::None,
        Listen {
            ipv6: true,
            ..Listen::default()
        },
    );
    let image = Image::three_layers("amd64");
    let reference = registry.reference("v6/app:v1");
    assert_eq!(reference.registry(), registry.host());
    // skopeo 1.9 cannot parse [::1] references: the client pushes instead.
    let client = client();
    support::push_image(&client, &reference, &image).unwrap();
    let manifest = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(manifest.digest, image.manifest.digest);
    let layer = &image.layers[1];
    assert_eq!(
        support::pull_blob(&client, &reference, layer).unwrap(),
        layer.bytes
    );
}

#[test]
fn docker_schema2_manifest_list_resolves_like_an_oci_index() {
    let registry = Registry::start(RegistryAuth::None);
    // Docker schema 2 has no zstd: gzip layers only.
    let gzip_image = |architecture: &str| {
        let content = format!("docker layer {architecture}\n");
        let layer = support::layer("d.txt", content.as_bytes(), Some("gzip"));
        Image::with_layers(
            architecture,
            vec![support::Blob::new(support::LAYER_GZIP, layer)],
        )
    };
    let (amd64, arm64) = (gzip_image("amd64"), gzip_image("arm64"));
    let dest = format!("docker://{}/docker/app:latest", registry.host());
    support::skopeo_push_index(
        &registry,
        &[(&arm64, "arm64"), (&amd64, "amd64")],
        "docker/app:latest",
        &["--format", "v2s2"],
    );

    // What skopeo converted to is what the registry serves.
    let raw_list = support::skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    let list: serde_json::Value = serde_json::from_slice(&raw_list).unwrap();
    assert_eq!(list["mediaType"], berth_registry::DOCKER_MANIFEST_LIST);

    let reference = registry.reference("docker/app");
    let client = client();
    let top = client.fetch_manifest(&reference).unwrap();
    assert_eq!(
        (top.media_type.as_str(), &top.bytes),
        (berth_registry::DOCKER_MANIFEST_LIST, &raw_list)
    );
    let image = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(image.media_type, berth_registry::DOCKER_MANIFEST);
    let amd64_entry = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap();
    assert_eq!(image.digest.to_string(), amd64_entry["digest"]);

    // The layer bytes survive the conversion: fetch them by the new manifest.
    let parsed: serde_json::Value = serde_json::from_slice(&image.bytes).unwrap();
    let layer = &parsed["layers"][0];
    let digest = Digest::parse(layer["digest"].as_str().unwrap()).unwrap();
    let size = layer["size"].as_u64().unwrap();
    let mut sink = Vec::new();
    client
        .get_blob(&reference, &digest, size, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!(sink, amd64.layers[0].bytes);
}
