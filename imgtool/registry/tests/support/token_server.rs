//! A small token server (the Docker token protocol) on a loopback port:
//! it answers `GET /token?service=..&scope=..` with an ES256 JWT that
//! docker-registry trusts through a self-signed certificate made by openssl.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

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

pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl TokenServer {
    /// Serves tokens to anyone presenting `user:password` (or anyone at all
    /// when `required` is None).
    pub fn start(required: Option<&str>) -> TokenServer {
        let dir = TempDir::new("token");
        let (cert, key) = super::self_signed_cert(dir.path(), "/CN=berth-test-token", None);
        let key_der = pem_body(&std::fs::read_to_string(&key).unwrap());
        let cert_der = pem_body(&std::fs::read_to_string(&cert).unwrap());
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_der,
            &SystemRandom::new(),
        )
        .expect("openssl wrote a PKCS#8 P-256 key");

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let context = Context {
            signer,
            x5c: STANDARD.encode(&cert_der),
            required: required.map(str::to_owned),
            requests: requests.clone(),
        };
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = context.serve(stream);
                }
            }
        });
        TokenServer {
            port,
            cert,
            requests,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Context {
    signer: EcdsaKeyPair,
    x5c: String,
    required: Option<String>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl Context {
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut basic = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(':') {
                if name.eq_ignore_ascii_case("authorization") {
                    if let Some(encoded) = value.trim().strip_prefix("Basic ") {
                        basic = STANDARD
                            .decode(encoded)
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok());
                    }
                }
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or_default();
        let query = target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .to_owned();
        self.requests.lock().unwrap().push(TokenRequest {
            query: query.clone(),
            basic: basic.clone(),
        });

        let mut stream = stream;
        if self.required.is_some() && basic != self.required {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
            return respond(&mut stream, "401 Unauthorized", body);
        }
        let scope = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("scope="))
            .map(percent_decode)
            .unwrap_or_default();
        let token = self.token(
            &scope,
            basic
                .as_deref()
                .and_then(|b| b.split(':').next())
                .unwrap_or(""),
        );
        respond(
            &mut stream,
            "200 OK",
            &serde_json::json!({"token": token, "expires_in": 300}).to_string(),
        )
    }

    /// A JWT granting the actions of `scope` (`repository:NAME:ACTIONS`).
    fn token(&self, scope: &str, subject: &str) -> String {
        let mut access = Vec::new();
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if let [kind, name, actions] = parts.as_slice() {
            access.push(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}));
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
            .signer
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
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
