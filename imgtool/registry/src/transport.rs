//! HTTP to one or more registries: choosing https or plain http, the
//! authentication handshake (anonymous, basic, bearer tokens) and sending
//! requests with the right `Authorization` header.
//!
//! On first contact with a registry, `GET /v2/` tells which scheme works and
//! which challenge the registry poses. From then on every request carries
//! credentials up front (a bearer token per repository scope, cached), so
//! streamed uploads never need to be replayed after a 401.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::http::{self, Response};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use crate::auth::{self, AuthError, Challenge, Credentials};
use crate::error::Error;
use crate::reference::Reference;

/// Longest error body read to explain a failed request.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// How long before its expiry a cached token is replaced.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(15);
/// Longest token endpoint answer accepted.
const TOKEN_BODY_LIMIT: u64 = 1024 * 1024;

/// What a request needs to be allowed to do in its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access<'a> {
    Pull,
    Push,
    /// Push here, and read the named repository a blob is mounted from.
    Mount {
        from: &'a str,
    },
}

impl Access<'_> {
    /// The token scopes this access needs in `repository`.
    fn scopes(self, repository: &str) -> Vec<String> {
        match self {
            Access::Pull => vec![format!("repository:{repository}:pull")],
            Access::Push => vec![format!("repository:{repository}:pull,push")],
            Access::Mount { from } => vec![
                format!("repository:{repository}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        }
    }
}

/// A request body.
pub(crate) enum RequestBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Exactly `len` bytes from the reader; cannot be sent twice.
    Stream {
        reader: &'a mut dyn Read,
        len: u64,
    },
}

/// One HTTP request to a registry.
pub(crate) struct Request<'a> {
    pub(crate) method: &'static str,
    /// A path below the registry (`/v2/...`) or an absolute URL (a `Location`).
    pub(crate) target: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: RequestBody<'a>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: &'static str, target: impl Into<String>) -> Request<'a> {
        Request {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: RequestBody::Empty,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: RequestBody<'a>) -> Request<'a> {
        self.body = body;
        self
    }
}

/// What the transport needs from the client's options.
pub(crate) struct TransportConfig {
    pub(crate) credentials: Option<Credentials>,
    pub(crate) auth_file: Option<PathBuf>,
    pub(crate) insecure: bool,
    pub(crate) user_agent: String,
}

/// A registry as first contact found it.
struct Endpoint {
    registry: String,
    /// `https://host[:port]` or `http://host[:port]`.
    base: String,
    /// What `GET /v2/` asked for, updated by the challenge of any later 401
    /// (some registries let anyone list `/v2/` and guard repositories only).
    challenge: Mutex<Option<Challenge>>,
    /// Bearer tokens by their space-joined scopes, with when they stop
    /// being worth sending.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// Shared HTTP state for every registry a client talks to.
pub(crate) struct Transport {
    config: TransportConfig,
    agent: Agent,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
}

impl Transport {
    pub(crate) fn new(config: TransportConfig) -> Transport {
        // System roots; with `insecure`, https certificates are not checked
        // (like skopeo's --tls-verify=false).
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .disable_verification(config.insecure)
            .build();
        let agent: Agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            // Blob downloads are often redirected to storage with signed URLs:
            // the registry's credentials follow only to the same host, as in
            // Go's client that docker and skopeo use.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .user_agent(config.user_agent.as_str())
            // Layers are stored as sent: never ask for or undo a transfer encoding.
            .accept_encoding("identity")
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .build()
            .into();
        Transport {
            config,
            agent,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` to `reference`'s registry with credentials for `access`.
    ///
    /// A 401 is answered once, when the body can be sent again: with the
    /// challenge it carries and a fresh token. A 401 after that is
    /// [`Error::Unauthorized`]; a 403 is [`Error::Denied`]. Every other
    /// status is the caller's to judge.
    pub(crate) fn send(
        &self,
        reference: &Reference,
        access: Access<'_>,
        mut request: Request<'_>,
    ) -> Result<Response<Body>, Error> {
        let endpoint = self.endpoint(reference)?;
        let url = resolve(&endpoint.base, &request.target);
        let mut authorization = self.authorization(&endpoint, reference, access, false)?;
        let mut response = self.execute(&endpoint, &url, &mut request, authorization.as_deref())?;
        let replayable = !matches!(request.body, RequestBody::Stream { .. });
        if response.status() == 401 && replayable {
            // Learn the challenge, and ask for a new token (the cached one may
            // have expired); retry only if that changes what is sent.
            if let Some(challenge) = self.read_challenge(reference, &response)? {
                *lock(&endpoint.challenge) = Some(challenge);
            }
            let renewed = self.authorization(&endpoint, reference, access, true)?;
            if renewed.is_some() && renewed != authorization {
                authorization = renewed;
                response = self.execute(&endpoint, &url, &mut request, authorization.as_deref())?;
            }
        }
        match response.status().as_u16() {
            401 => Err(Error::Unauthorized {
                registry: reference.registry().to_owned(),
                repository: reference.repository().to_owned(),
                detail: error_detail(&mut response),
                hint: if authorization.is_some() || self.credentials_for(reference)?.is_some() {
                    "the credentials were refused"
                } else {
                    "no credentials were given or found in the auth file"
                },
            }),
            403 => Err(Error::Denied {
                registry: reference.registry().to_owned(),
                repository: reference.repository().to_owned(),
                detail: error_detail(&mut response),
            }),
            _ => Ok(response),
        }
    }

    /// The absolute URL `target` resolves to for `reference`'s registry.
    pub(crate) fn url(&self, reference: &Reference, target: &str) -> Result<String, Error> {
        Ok(resolve(&self.endpoint(reference)?.base, target))
    }

    /// Performs one HTTP exchange; auth goes only to the registry's own URLs.
    fn execute(
        &self,
        endpoint: &Endpoint,
        url: &str,
        request: &mut Request<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<Body>, Error> {
        let mut builder = http::Request::builder().method(request.method).uri(url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(authorization) = authorization.filter(|_| same_origin(&endpoint.base, url)) {
            builder = builder.header("authorization", authorization);
        }
        let transport_error = |source: ureq::Error| Error::Transport {
            method: request.method,
            url: url.to_owned(),
            source: Box::new(source),
        };
        let result = match &mut request.body {
            RequestBody::Empty => builder.body(()).map(|r| self.agent.run(r)),
            RequestBody::Bytes(bytes) => builder.body(*bytes).map(|r| self.agent.run(r)),
            RequestBody::Stream { reader, len } => builder
                .header("content-length", len.to_string())
                .body(SendBody::from_reader(&mut **reader))
                .map(|r| self.agent.run(r)),
        };
        result
            .map_err(|e| transport_error(ureq::Error::Http(e)))?
            .map_err(transport_error)
    }

    /// The endpoint of `reference`'s registry, contacting it on first use.
    fn endpoint(&self, reference: &Reference) -> Result<Arc<Endpoint>, Error> {
        let host = reference.api_host();
        let known = lock(&self.endpoints).get(host).cloned();
        if let Some(endpoint) = known {
            return Ok(endpoint);
        }
        let endpoint = Arc::new(self.first_contact(reference)?);
        let mut endpoints = lock(&self.endpoints);
        Ok(endpoints.entry(host.to_owned()).or_insert(endpoint).clone())
    }

    /// `GET /v2/` over https, then (where allowed) plain http: the first
    /// scheme that answers is kept, with the challenge it posed.
    fn first_contact(&self, reference: &Reference) -> Result<Endpoint, Error> {
        let host = reference.api_host();
        let schemes: &[&str] = if self.http_allowed(host) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut failures: Vec<(String, ureq::Error)> = Vec::new();
        // An https failure explains a plain-http answer that follows it
        // (a TLS-only registry with an untrusted certificate, say).
        let earlier = |failures: &[(String, ureq::Error)]| -> String {
            failures
                .iter()
                .map(|(url, error)| format!("; {url}: {error}"))
                .collect()
        };
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            let response = match self.agent.get(&url).call() {
                Ok(response) => response,
                Err(error) => {
                    failures.push((url, error));
                    continue;
                }
            };
            let challenge = match response.status().as_u16() {
                200 => None,
                // 401 with no challenge: answer with basic credentials, as docker does.
                401 => Some(
                    self.read_challenge(reference, &response)?
                        .unwrap_or(Challenge::Basic),
                ),
                status => {
                    return Err(Error::NotARegistry {
                        registry: host.to_owned(),
                        url,
                        status,
                        earlier: earlier(&failures),
                    })
                }
            };
            return Ok(Endpoint {
                registry: host.to_owned(),
                base,
                challenge: Mutex::new(challenge),
                tokens: Mutex::new(HashMap::new()),
            });
        }
        let (url, source) = failures.pop().expect("at least one scheme was tried");
        Err(Error::Unreachable {
            registry: host.to_owned(),
            url,
            source: Box::new(source),
            earlier: earlier(&failures),
        })
    }

    /// The Bearer challenge if the registry offers one, else its Basic one.
    fn read_challenge(
        &self,
        reference: &Reference,
        response: &Response<Body>,
    ) -> Result<Option<Challenge>, Error> {
        let registry = reference.api_host();
        let headers: Vec<&str> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let parsed: Vec<Result<Challenge, AuthError>> = headers
            .iter()
            .map(|h| auth::parse_challenge(registry, h))
            .collect();
        if let Some(Ok(bearer)) = parsed
            .iter()
            .find(|c| matches!(c, Ok(Challenge::Bearer { .. })))
        {
            return Ok(Some(bearer.clone()));
        }
        Ok(parsed.into_iter().next().transpose()?)
    }

    /// The `Authorization` value for `access` to `reference`, if the registry wants one.
    fn authorization(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
        access: Access<'_>,
        refresh: bool,
    ) -> Result<Option<String>, Error> {
        let credentials = self.credentials_for(reference)?;
        let challenge = lock(&endpoint.challenge).clone();
        let (realm, service) = match &challenge {
            None => return Ok(None),
            Some(Challenge::Basic) => return Ok(credentials.map(|c| c.basic_header())),
            Some(Challenge::Bearer { realm, service, .. }) => (realm, service),
        };
        let scopes = access.scopes(reference.repository());
        let key = scopes.join(" ");
        if !refresh {
            let tokens = lock(&endpoint.tokens);
            if let Some((token, _)) = tokens
                .get(&key)
                .filter(|(_, stale)| Instant::now() < *stale)
            {
                return Ok(Some(format!("Bearer {token}")));
            }
        }
        let asked_at = Instant::now();
        let token = self.fetch_token(
            endpoint,
            reference,
            realm,
            service.as_deref(),
            &scopes,
            credentials,
        )?;
        let header = format!("Bearer {}", token.value);
        // Stop reusing a token a margin before it expires, so a request
        // that cannot be replayed (a streamed upload) never carries a stale one.
        let stale = asked_at + token.lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN);
        lock(&endpoint.tokens).insert(key, (token.value, stale));
        Ok(Some(header))
    }

    /// Asks the token realm for a token for `scopes`, with basic credentials when known.
    fn fetch_token(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credentials: Option<Credentials>,
    ) -> Result<auth::Token, Error> {
        let realm_host = realm.strip_prefix("http://");
        if let Some(rest) = realm_host {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            if !self.http_allowed(host) {
                return Err(AuthError::InsecureRealm {
                    registry: endpoint.registry.clone(),
                    realm: realm.to_owned(),
                }
                .into());
            }
        }
        let url = auth::token_url(realm, service, scopes);
        let mut request = self.agent.get(&url);
        if let Some(credentials) = &credentials {
            request = request.header("authorization", credentials.basic_header());
        }
        let mut response = request.call().map_err(|source| Error::Transport {
            method: "GET",
            url: url.clone(),
            source: Box::new(source),
        })?;
        match response.status().as_u16() {
            200 => {}
            401 => {
                return Err(Error::Unauthorized {
                    registry: reference.registry().to_owned(),
                    repository: reference.repository().to_owned(),
                    detail: error_detail(&mut response),
                    hint: if credentials.is_some() {
                        "the token endpoint refused the credentials"
                    } else {
                        "the token endpoint wants credentials and none were given or found"
                    },
                })
            }
            403 => {
                return Err(Error::Denied {
                    registry: reference.registry().to_owned(),
                    repository: reference.repository().to_owned(),
                    detail: error_detail(&mut response),
                })
            }
            status => {
                return Err(Error::Status {
                    method: "GET",
                    url,
                    status,
                    detail: error_detail(&mut response),
                })
            }
        }
        let body = read_limited(&mut response, TOKEN_BODY_LIMIT).map_err(|source| {
            Error::ResponseBody {
                method: "GET",
                url: url.clone(),
                source,
            }
        })?;
        Ok(auth::parse_token_answer(realm, &body)?)
    }

    /// Credentials from the options, else from the auth file.
    fn credentials_for(&self, reference: &Reference) -> Result<Option<Credentials>, Error> {
        if let Some(credentials) = &self.config.credentials {
            return Ok(Some(credentials.clone()));
        }
        let path = self
            .config
            .auth_file
            .clone()
            .or_else(auth::default_auth_file);
        match path {
            Some(path) => Ok(auth::lookup_auth_file(
                &path,
                reference.registry(),
                reference.repository(),
            )?),
            None => Ok(None),
        }
    }

    /// Plain http only for loopback hosts, or anywhere with `insecure`.
    fn http_allowed(&self, host_port: &str) -> bool {
        self.config.insecure || is_loopback(host_port)
    }
}

/// Locks `mutex`; a panic elsewhere cannot leave these maps half-updated.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `host[:port]` names this machine: localhost, 127.0.0.0/8 or ::1.
pub(crate) fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host_port
            .rsplit_once(':')
            .map_or(host_port, |(host, _)| host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `target` as an absolute URL: kept when absolute, else appended to `base`.
fn resolve(base: &str, target: &str) -> String {
    if target.starts_with("https://") || target.starts_with("http://") {
        target.to_owned()
    } else if target.starts_with('/') {
        format!("{base}{target}")
    } else {
        format!("{base}/{target}")
    }
}

/// Whether `url` lies under `base` (same scheme, host and port).
fn same_origin(base: &str, url: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// Reads at most `limit` bytes of a response body.
pub(crate) fn read_limited(response: &mut Response<Body>, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's explanation of an error status, as `": CODE message"`, or "".
pub(crate) fn error_detail(response: &mut Response<Body>) -> String {
    let Ok(body) = read_limited(response, ERROR_BODY_LIMIT) else {
        return String::new();
    };
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(&body) {
        let parts: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            // The registry's words, never its control characters.
            return format!(": {}", berth_oci::Escaped(parts.join("; ")));
        }
    }
    let text = String::from_utf8_lossy(&body);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => format!(
            ": {}",
            berth_oci::Escaped(line.chars().take(200).collect::<String>())
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.1:5000",
            "[::2]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://h:5", "http://h:5/v2/x"));
        assert!(!same_origin("http://h:5", "http://h:50/v2/x"));
        assert!(!same_origin("http://h", "https://h/v2/"));
        assert_eq!(resolve("http://h", "/v2/a"), "http://h/v2/a");
        assert_eq!(resolve("http://h", "https://s3/x"), "https://s3/x");
    }
}
