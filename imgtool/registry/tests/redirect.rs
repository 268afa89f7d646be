//! Blob downloads redirected elsewhere (as registries do to object storage):
//! the credentials follow to the same host and never to another one.
//!
//! The peers are small HTTP servers on two loopback addresses: a registry
//! front on 127.0.0.1 that wants basic auth and redirects, and a "storage"
//! host on 127.0.0.2 that serves the bytes.

mod support;

use base64::Engine as _;
use berth_registry::{Client, ClientOptions, Credentials, Digest, NoProgress, Reference};
use support::http_peer::{HttpPeer, PeerResponse};
use support::TempDir;

#[test]
fn credentials_follow_redirects_to_the_same_host_only() {
    let elsewhere = b"bytes kept on another host".to_vec();
    let here = b"bytes kept on the registry host".to_vec();
    let (elsewhere_digest, here_digest) = (Digest::of_bytes(&elsewhere), Digest::of_bytes(&here));

    let served = elsewhere.clone();
    let storage = HttpPeer::start("127.0.0.2", move |_| {
        PeerResponse::new("200 OK", served.clone())
    });

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user:pw")
    );
    let storage_url = storage.url();
    let (elsewhere_path, here_path) = (
        format!("/v2/app/blobs/{elsewhere_digest}"),
        format!("/v2/app/blobs/{here_digest}"),
    );
    let front = HttpPeer::start("127.0.0.1", move |request| {
        if request.header("authorization") != Some(expected.as_str()) {
            return PeerResponse::new("401 Unauthorized", "")
                .header("WWW-Authenticate", r#"Basic realm="front""#);
        }
        match request.path() {
            "/v2/" => PeerResponse::new("200 OK", "{}"),
            path if path == elsewhere_path => PeerResponse::new("307 Temporary Redirect", "")
                .header("Location", format!("{storage_url}/data/1?signed=x")),
            path if path == here_path => PeerResponse::new("307 Temporary Redirect", "")
                .header("Location", "/v2/app/moved/2"),
            "/v2/app/moved/2" => PeerResponse::new("200 OK", here.clone()),
            _ => PeerResponse::new("404 Not Found", ""),
        }
    });

    let files = TempDir::new("redirect");
    let client = Client::new(ClientOptions {
        credentials: Some(Credentials::new("user", "pw")),
        auth_file: Some(files.path().join("absent.json")),
        ..ClientOptions::default()
    });
    let reference = Reference::parse(&format!("{}/app:v1", front.addr)).unwrap();

    let mut sink = Vec::new();
    client
        .get_blob(
            &reference,
            &elsewhere_digest,
            elsewhere.len() as u64,
            &mut sink,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(sink, elsewhere);
    let to_storage = storage.requests();
    assert_eq!(to_storage.len(), 1);
    assert_eq!(to_storage[0].target, "/data/1?signed=x");
    assert_eq!(
        to_storage[0].header("authorization"),
        None,
        "credentials leaked to another host"
    );

    let mut sink = Vec::new();
    client
        .get_blob(&reference, &here_digest, 31, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!(sink, b"bytes kept on the registry host");
    let moved = front
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v2/app/moved/2")
        .unwrap();
    assert!(
        moved.header("authorization").is_some(),
        "same-host redirect keeps the credentials"
    );
}
