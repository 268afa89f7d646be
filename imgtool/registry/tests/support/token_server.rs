//! A token server (the Docker token protocol) on a loopback port: it
//! answers `GET /token?service=..&scope=..` with an ES256 JWT that
//! docker-registry trusts through a self-signed certificate made by openssl.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::http_peer::{HttpPeer, PeerRequest, PeerResponse};
use super::TempDir;

pub const SERVICE: &str = "berth-test-registry";
pub const ISSUER: &str = "berth-test-issuer";

/// One token request as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub query: String,
    /// The decoded `user:password` of a Basic header, if any.
    pub basic: Option<String>,
}

impl TokenRequest {
    fn from_peer(request: &PeerRequest) -> TokenRequest {
        let basic = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        TokenRequest {
            query: request.query().to_owned(),
            basic,
        }
    }
}

pub struct TokenServer {
    pub cert: PathBuf,
    peer: HttpPeer,
    _dir: TempDir,
}

impl TokenServer {
    /// Serves tokens to anyone presenting `user:password` (or anyone at all
    /// when `required` is None).
    pub fn start(required: Option<&str>) -> TokenServer {
        TokenServer::start_with_lifetime(required, 300)
    }

    /// Like [`TokenServer::start`], announcing `expires_in` seconds per token
    /// (the JWTs themselves stay valid for 300 s).
    pub fn start_with_lifetime(required: Option<&str>, expires_in: u64) -> TokenServer {
        let dir = TempDir::new("token");
        let (cert, key) = super::self_signed_cert(dir.path(), "/CN=berth-test-token", None);
        let key_der = pem_body(&std::fs::read_to_string(&key).unwrap());
        let signer = Signer {
            key: EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &key_der,
                &SystemRandom::new(),
            )
            .expect("openssl wrote a PKCS#8 P-256 key"),
            x5c: STANDARD.encode(pem_body(&std::fs::read_to_string(&cert).unwrap())),
        };
        let required = required.map(str::to_owned);
        let peer = HttpPeer::start("127.0.0.1", move |request| {
            let asked = TokenRequest::from_peer(request);
            if required.is_some() && asked.basic != required {
                let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
                return PeerResponse::new("401 Unauthorized", body);
            }
            let scopes: Vec<String> = asked
                .query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("scope="))
                .map(percent_decode)
                .collect();
            let subject = asked
                .basic
                .as_deref()
                .and_then(|b| b.split(':').next())
                .unwrap_or("");
            let token = signer.token(&scopes, subject);
            let body = serde_json::json!({"token": token, "expires_in": expires_in}).to_string();
            PeerResponse::new("200 OK", body).header("Content-Type", "application/json")
        });
        TokenServer {
            cert,
            peer,
            _dir: dir,
        }
    }

    pub fn realm(&self) -> String {
        format!("{}/token", self.peer.url())
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.peer
            .requests()
            .iter()
            .map(TokenRequest::from_peer)
            .collect()
    }
}

struct Signer {
    key: EcdsaKeyPair,
    x5c: String,
}

impl Signer {
    /// A JWT granting the actions of every scope (`repository:NAME:ACTIONS`).
    fn token(&self, scopes: &[String], subject: &str) -> String {
        let mut access = Vec::new();
        for scope in scopes {
            let parts: Vec<&str> = scope.splitn(3, ':').collect();
            if let [kind, name, actions] = parts.as_slice() {
                let actions: Vec<&str> = actions.split(',').collect();
                access.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("{now}-{}", std::process::id()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(base64).unwrap()
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}
