//! https verified against the system's roots: rustls-native-certs reads
//! SSL_CERT_FILE, so pointing it at the test CA makes the registry's
//! certificate trusted without the insecure option. One test in its own
//! process, since it changes the environment.

mod support;

use berth_registry::{Client, ClientOptions, Platform};
use support::{Image, Listen, Registry, RegistryAuth};

#[test]
fn https_registry_trusted_through_the_system_roots() {
    let tls = Listen {
        tls: true,
        ..Listen::default()
    };
    let registry = Registry::start_with(RegistryAuth::None, tls);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "roots/app:v1", None);
    let reference = registry.reference("roots/app:v1");

    std::env::set_var("SSL_CERT_FILE", registry.ca_cert());
    std::env::remove_var("SSL_CERT_DIR");
    let client = Client::new(ClientOptions::default());
    let manifest = client.get_manifest(&reference, &Platform::host()).unwrap();
    assert_eq!(manifest.digest, image.manifest.digest);
    let layer = &image.layers[0];
    assert_eq!(
        support::pull_blob(&client, &reference, layer).unwrap(),
        layer.bytes
    );

    // The registry serves https only, so this was verified https: plain
    // http gets a 400 from it (see pull.rs's untrusted_https test).
    let pushed = Image::three_layers("arm64");
    support::push_image(&client, &registry.reference("roots/pushed:v1"), &pushed).unwrap();
}
