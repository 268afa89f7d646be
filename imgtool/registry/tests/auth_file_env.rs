//! Where credentials are found when the options name no auth file:
//! $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json, then
//! ~/.docker/config.json. One test in its own process, since it changes
//! the environment.

mod support;

use base64::Engine as _;
use berth_registry::{Client, ClientOptions, Error, Platform};
use support::{Image, Registry, RegistryAuth, TempDir};

fn write_auth(path: &std::path::Path, registry: &Registry, user_password: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
    let json = format!(
        r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
        registry.host()
    );
    std::fs::write(path, json).unwrap();
}

#[test]
fn auth_file_is_found_through_the_environment() {
    let registry = Registry::start(RegistryAuth::Htpasswd {
        user: "env".into(),
        password: "pw".into(),
    });
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "env/app:v1", Some("env:pw"));
    let reference = registry.reference("env/app:v1");
    let pull = || Client::new(ClientOptions::default()).get_manifest(&reference, &Platform::host());
    let dir = TempDir::new("env");

    // ~/.docker/config.json
    std::env::remove_var("REGISTRY_AUTH_FILE");
    std::env::remove_var("DOCKER_CONFIG");
    std::env::set_var("HOME", dir.path());
    assert!(
        matches!(pull(), Err(Error::Unauthorized { .. })),
        "no file yet"
    );
    write_auth(&dir.path().join(".docker/config.json"), &registry, "env:pw");
    assert_eq!(pull().unwrap().digest, image.manifest.digest);

    // $DOCKER_CONFIG wins over HOME.
    std::env::set_var("DOCKER_CONFIG", dir.path().join("docker-config"));
    assert!(matches!(pull(), Err(Error::Unauthorized { .. })));
    write_auth(
        &dir.path().join("docker-config/config.json"),
        &registry,
        "env:pw",
    );
    assert_eq!(pull().unwrap().digest, image.manifest.digest);

    // $REGISTRY_AUTH_FILE wins over both; a wrong password there is refused.
    let auth_file = dir.path().join("auth.json");
    write_auth(&auth_file, &registry, "env:wrong");
    std::env::set_var("REGISTRY_AUTH_FILE", &auth_file);
    match pull() {
        Err(Error::Unauthorized { hint, .. }) => assert!(hint.contains("refused"), "{hint}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    write_auth(&auth_file, &registry, "env:pw");
    assert_eq!(pull().unwrap().digest, image.manifest.digest);
}
