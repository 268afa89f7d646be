//! Authentication against real registries: htpasswd (basic) and the token
//! flow with a token server that docker-registry trusts.

mod support;

use base64::Engine as _;
use berth_registry::{Client, ClientOptions, Credentials, Error, Platform};
use support::token_server::{self, TokenServer};
use support::{Image, Registry, RegistryAuth, TempDir};

/// A client that reads only the given auth file (never the user's own).
fn client_with(credentials: Option<Credentials>, auth_file: &std::path::Path) -> Client {
    Client::new(ClientOptions {
        credentials,
        auth_file: Some(auth_file.to_owned()),
        ..ClientOptions::default()
    })
}

fn pull_everything(
    client: &Client,
    registry: &Registry,
    repo_tag: &str,
    image: &Image,
) -> Result<(), Error> {
    let reference = registry.reference(repo_tag);
    let manifest = client.get_manifest(&reference, &Platform::host())?;
    assert_eq!(manifest.digest, image.manifest.digest);
    for blob in image.layers.iter().chain([&image.config]) {
        assert_eq!(support::pull_blob(client, &reference, blob)?, blob.bytes);
    }
    Ok(())
}

fn push_everything(
    client: &Client,
    registry: &Registry,
    repo_tag: &str,
    image: &Image,
) -> Result<(), Error> {
    support::push_image(client, &registry.reference(repo_tag), image).map(drop)
}

/// A token server handing tokens to `required` credentials (or anyone),
/// and a registry that trusts it.
fn token_registry(required: Option<&str>) -> (TokenServer, Registry) {
    token_registry_with(TokenServer::start(required))
}

fn token_registry_with(tokens: TokenServer) -> (TokenServer, Registry) {
    let registry = Registry::start(RegistryAuth::Token {
        realm: tokens.realm(),
        service: token_server::SERVICE.into(),
        issuer: token_server::ISSUER.into(),
        cert: tokens.cert.clone(),
    });
    (tokens, registry)
}

#[test]
fn basic_auth_with_options_or_auth_file_and_clear_401s() {
    let registry = Registry::start(RegistryAuth::Htpasswd {
        user: "berth".into(),
        password: "s3cret".into(),
    });
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "private/app:v1", Some("berth:s3cret"));
    let files = TempDir::new("auth-files");
    let no_file = files.path().join("absent.json");

    // Anonymous: 401, saying no credentials were found.
    let anonymous = client_with(None, &no_file);
    let error = pull_everything(&anonymous, &registry, "private/app:v1", &image).unwrap_err();
    match &error {
        Error::Unauthorized {
            repository, hint, ..
        } => {
            assert_eq!(repository, "private/app");
            assert!(hint.contains("no credentials"), "{hint}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(!error.to_string().contains('\n'));

    // Wrong password: 401, saying the credentials were refused.
    let wrong = client_with(Some(Credentials::new("berth", "guess")), &no_file);
    let error = pull_everything(&wrong, &registry, "private/app:v1", &image).unwrap_err();
    assert!(
        matches!(&error, Error::Unauthorized { hint, .. } if hint.contains("refused")),
        "{error:?}"
    );

    // Credentials from the options.
    let right = client_with(Some(Credentials::new("berth", "s3cret")), &no_file);
    pull_everything(&right, &registry, "private/app:v1", &image).unwrap();
    let other = Image::three_layers("arm64");
    push_everything(&right, &registry, "private/pushed:v1", &other).unwrap();
    let raw = support::skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "berth:s3cret",
        &format!("docker://{}/private/pushed:v1", registry.host()),
    ]);
    assert_eq!(raw, other.manifest.bytes);

    // Credentials from a docker-style auth file, keyed with a scheme.
    let auth_file = files.path().join("config.json");
    let encoded = base64::engine::general_purpose::STANDARD.encode("berth:s3cret");
    let json = format!(
        r#"{{"auths":{{"http://{}":{{"auth":"{encoded}"}}}}}}"#,
        registry.host()
    );
    std::fs::write(&auth_file, json).unwrap();
    let from_file = client_with(None, &auth_file);
    pull_everything(&from_file, &registry, "private/app:v1", &image).unwrap();

    // A malformed auth file is an error naming it, not a silent anonymous pull.
    std::fs::write(&auth_file, "{not json").unwrap();
    let broken = client_with(None, &auth_file);
    let error = pull_everything(&broken, &registry, "private/app:v1", &image).unwrap_err();
    assert!(error.to_string().contains("config.json"), "{error}");
}

#[test]
fn token_flow_with_credentials_for_pull_and_push_scopes() {
    let (tokens, registry) = token_registry(Some("berth:tokenpw"));
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "tok/app:v1", Some("berth:tokenpw"));
    let files = TempDir::new("token-files");
    let no_file = files.path().join("absent.json");

    // Without credentials the token server says no: a 401 naming the repository.
    let anonymous = client_with(None, &no_file);
    let error = pull_everything(&anonymous, &registry, "tok/app:v1", &image).unwrap_err();
    assert!(
        matches!(&error, Error::Unauthorized { repository, .. } if repository == "tok/app"),
        "{error:?}"
    );

    let before = tokens.requests().len();
    let client = client_with(Some(Credentials::new("berth", "tokenpw")), &no_file);
    pull_everything(&client, &registry, "tok/app:v1", &image).unwrap();
    let other = Image::three_layers("arm64");
    push_everything(&client, &registry, "tok/pushed:v1", &other).unwrap();
    pull_everything(&client, &registry, "tok/pushed:v1", &other).unwrap();

    // One token per scope, each asked for with the service and basic credentials.
    let asked: Vec<_> = tokens.requests()[before..].to_vec();
    let scopes: Vec<String> = asked
        .iter()
        .map(|r| {
            assert_eq!(r.basic.as_deref(), Some("berth:tokenpw"));
            assert!(
                r.query
                    .contains(&format!("service={}", token_server::SERVICE)),
                "{}",
                r.query
            );
            let scope = r
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("scope="))
                .unwrap();
            token_server::percent_decode(scope)
        })
        .collect();
    assert_eq!(
        scopes,
        [
            "repository:tok/app:pull",
            "repository:tok/pushed:pull,push",
            "repository:tok/pushed:pull"
        ],
        "tokens are cached per scope"
    );
}

#[test]
fn anonymous_token_flow() {
    let (tokens, registry) = token_registry(None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "open/app:v1", None);
    let files = TempDir::new("anon-files");
    let client = client_with(None, &files.path().join("absent.json"));
    let before = tokens.requests().len();
    pull_everything(&client, &registry, "open/app:v1", &image).unwrap();
    let asked = &tokens.requests()[before..];
    assert_eq!(
        asked.len(),
        1,
        "one token serves the manifest and every blob"
    );
    assert_eq!(asked[0].basic, None);
}

#[test]
fn one_client_serves_parallel_pulls() {
    let (tokens, registry) = token_registry(None);
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "par/app:v1", None);
    let files = TempDir::new("parallel");
    let client = client_with(None, &files.path().join("absent.json"));
    let reference = registry.reference("par/app:v1");
    let before = tokens.requests().len();
    client.get_manifest(&reference, &Platform::host()).unwrap();

    // Every layer on its own thread, sharing the client and its token.
    std::thread::scope(|scope| {
        let pulls: Vec<_> = image
            .layers
            .iter()
            .map(|layer| scope.spawn(|| support::pull_blob(&client, &reference, layer).unwrap()))
            .collect();
        for (pull, layer) in pulls.into_iter().zip(&image.layers) {
            assert_eq!(pull.join().unwrap(), layer.bytes);
        }
    });
    assert_eq!(
        tokens.requests().len() - before,
        1,
        "the pull token is fetched once and shared"
    );
}

#[test]
fn mount_under_token_auth_asks_for_both_repositories() {
    let (tokens, registry) = token_registry(Some("berth:tokenpw"));
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "tok/source:v1", Some("berth:tokenpw"));
    let files = TempDir::new("mount-files");
    let client = client_with(
        Some(Credentials::new("berth", "tokenpw")),
        &files.path().join("absent.json"),
    );
    let target = registry.reference("tok/target:v1");
    let layer = &image.layers[1];

    let before = tokens.requests().len();
    assert!(client
        .mount_blob(&target, &layer.digest, "tok/source")
        .unwrap());
    let asked = &tokens.requests()[before];
    let scopes: Vec<String> = asked
        .query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(token_server::percent_decode)
        .collect();
    assert_eq!(
        scopes,
        [
            "repository:tok/target:pull,push",
            "repository:tok/source:pull"
        ]
    );
    assert_eq!(
        support::pull_blob(&client, &target, layer).unwrap(),
        layer.bytes
    );
}

#[test]
fn tokens_about_to_expire_are_not_reused() {
    // 10 s of announced life is inside the client's 15 s margin: every
    // request asks for a fresh token rather than risk a stale one.
    let (tokens, registry) = token_registry_with(TokenServer::start_with_lifetime(None, 10));
    let image = Image::three_layers("amd64");
    support::skopeo_push(&registry, &image, "short/app:v1", None);
    let files = TempDir::new("short-files");
    let client = client_with(None, &files.path().join("absent.json"));
    let before = tokens.requests().len();
    pull_everything(&client, &registry, "short/app:v1", &image).unwrap();
    // One manifest and four blobs (three layers and the config).
    assert_eq!(tokens.requests().len() - before, 5);
}
