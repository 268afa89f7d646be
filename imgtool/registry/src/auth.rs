//! Registry credentials and the pieces of the authentication handshake that
//! need no network: reading auth files, parsing `WWW-Authenticate`
//! challenges, building token requests and reading token answers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

/// Why credentials or a token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The auth file exists but cannot be read.
    #[error("auth file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
    /// The auth file is not the expected JSON.
    #[error("auth file {path}: invalid JSON: {source}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
    /// An `auths` entry's `auth` field is not base64 of `user:password`.
    #[error("auth file {path}: auths.{key:?}.auth is not base64 of USER:PASSWORD")]
    BadAuthField {
        /// The file.
        path: PathBuf,
        /// The `auths` key.
        key: String,
    },
    /// A `WWW-Authenticate` challenge names a scheme this client cannot answer.
    #[error("registry {registry}: unsupported WWW-Authenticate challenge {header:?} (Basic and Bearer are supported)")]
    UnsupportedChallenge {
        /// The registry.
        registry: String,
        /// The header as received.
        header: String,
    },
    /// A Bearer challenge has no realm to ask for tokens.
    #[error("registry {registry}: Bearer challenge {header:?} has no realm")]
    MissingRealm {
        /// The registry.
        registry: String,
        /// The header as received.
        header: String,
    },
    /// The token realm would carry credentials over plain http to a remote host.
    #[error("registry {registry}: token realm {realm} is plain http on a non-local host (use https, or the insecure option)")]
    InsecureRealm {
        /// The registry.
        registry: String,
        /// The realm URL.
        realm: String,
    },
    /// The token endpoint's answer has no token.
    #[error(
        "token endpoint {realm}: answer is not JSON with a token or access_token field: {source}"
    )]
    BadTokenAnswer {
        /// The realm URL.
        realm: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The token endpoint's answer has an empty token.
    #[error("token endpoint {realm}: answer has an empty token")]
    EmptyToken {
        /// The realm URL.
        realm: String,
    },
}

/// A user name and password (or access token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or personal access token.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The value of an `Authorization: Basic ...` header.
    pub(crate) fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The auth file to read when none is given: `$REGISTRY_AUTH_FILE`, else
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_auth_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
}

/// Looks up credentials for `registry`/`repository` in a docker-style auth
/// file (`{"auths": {"HOST": {"auth": base64("user:password")}}}`).
///
/// Keys may carry a scheme and a `/v1/` suffix (`https://index.docker.io/v1/`),
/// or a repository prefix (`quay.io/org`, podman style); the longest matching
/// key wins. A missing file means no credentials.
pub fn lookup_auth_file(
    path: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, AuthError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::ReadFile {
                path: path.to_owned(),
                source,
            })
        }
    };
    let file: AuthFile = serde_json::from_slice(&text).map_err(|source| AuthError::ParseFile {
        path: path.to_owned(),
        source,
    })?;
    let wanted = format!("{registry}/{repository}");
    let best = file
        .auths
        .iter()
        .filter(|(_, entry)| entry.auth.as_deref().is_some_and(|a| !a.is_empty()))
        .map(|(key, entry)| (normalise_auth_key(key), key, entry))
        .filter(|(normal, _, _)| {
            normal == registry
                || (wanted.starts_with(normal.as_str())
                    && wanted.as_bytes().get(normal.len()) == Some(&b'/'))
        })
        .max_by_key(|(normal, _, _)| normal.len());
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let bad = || AuthError::BadAuthField {
        path: path.to_owned(),
        key: key.clone(),
    };
    let decoded = BASE64
        .decode(entry.auth.as_deref().unwrap_or_default().trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some(Credentials::new(username, password)))
}

/// `https://index.docker.io/v1/` -> `docker.io`, `http://host:5000/` -> `host:5000`.
fn normalise_auth_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key
        .strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key);
    match key {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        other => match other.split_once('/') {
            Some(("index.docker.io" | "registry-1.docker.io", rest)) => {
                format!("{DOCKER_HUB}/{rest}")
            }
            _ => other.to_owned(),
        },
    }
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// The token flow: fetch a token from `realm` for `service` and `scope`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub(crate) fn parse_challenge(registry: &str, header: &str) -> Result<Challenge, AuthError> {
    let header_trimmed = header.trim();
    let (scheme, params) = header_trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((header_trimmed, ""));
    let params = parse_auth_params(params);
    if scheme.eq_ignore_ascii_case("basic") {
        return Ok(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::UnsupportedChallenge {
            registry: registry.to_owned(),
            header: header.to_owned(),
        });
    }
    let Some(realm) = params.get("realm").cloned() else {
        return Err(AuthError::MissingRealm {
            registry: registry.to_owned(),
            header: header.to_owned(),
        });
    };
    Ok(Challenge::Bearer {
        realm,
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `key="quoted \" value", key2=token` into a map with lowercase keys.
fn parse_auth_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
}

/// The URL that asks `realm` for a token for `service` and every one of
/// `scopes` (one `scope=` parameter each, as docker sends them).
pub(crate) fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    let mut url = realm.to_owned();
    let mut separator = if realm.contains('?') { '&' } else { '?' };
    let service = service.map(|s| ("service", s));
    for (key, value) in service
        .into_iter()
        .chain(scopes.iter().map(|s| ("scope", s.as_str())))
    {
        url.push(separator);
        url.push_str(key);
        url.push('=');
        url.push_str(&percent_encode(value));
        separator = '&';
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// How long a token lives when its answer does not say (the token spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A bearer token and how long it stays valid from when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) lifetime: Duration,
}

/// Reads the token and its lifetime out of a token endpoint's JSON answer.
pub(crate) fn parse_token_answer(realm: &str, body: &[u8]) -> Result<Token, AuthError> {
    let answer: TokenAnswer =
        serde_json::from_slice(body).map_err(|source| AuthError::BadTokenAnswer {
            realm: realm.to_owned(),
            source,
        })?;
    let lifetime = answer
        .expires_in
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    match answer.token.or(answer.access_token) {
        Some(value) if !value.is_empty() => Ok(Token { value, lifetime }),
        _ => Err(AuthError::EmptyToken {
            realm: realm.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_quotes_and_commas() {
        let c = parse_challenge(
            "r",
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge("r", r#"Basic realm="x""#).unwrap(),
            Challenge::Basic
        );
        assert!(parse_challenge("r", "Negotiate abc").is_err());
        assert!(parse_challenge("r", r#"Bearer service="x""#).is_err());
    }

    #[test]
    fn token_answers() {
        let token = parse_token_answer("r", br#"{"access_token":"a","expires_in":300}"#).unwrap();
        assert_eq!(
            (token.value.as_str(), token.lifetime),
            ("a", Duration::from_secs(300))
        );
        let token = parse_token_answer("r", br#"{"token":"t"}"#).unwrap();
        assert_eq!(token.lifetime, DEFAULT_TOKEN_LIFETIME);
        assert!(matches!(
            parse_token_answer("r", br#"{"token":""}"#),
            Err(AuthError::EmptyToken { .. })
        ));
        assert!(matches!(
            parse_token_answer("r", b"<html>"),
            Err(AuthError::BadTokenAnswer { .. })
        ));
    }

    #[test]
    fn token_url_encodes_scope() {
        assert_eq!(
            token_url(
                "http://h/token?x=1",
                Some("svc 1"),
                &[
                    "repository:a/b:pull,push".into(),
                    "repository:c:pull".into()
                ]
            ),
            "http://h/token?x=1&service=svc%201&scope=repository%3Aa%2Fb%3Apull%2Cpush\
             &scope=repository%3Ac%3Apull"
        );
    }

    #[test]
    fn auth_file_lookup_normalises_keys() {
        let dir = std::env::temp_dir().join(format!("berth-registry-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let b64 = |s: &str| BASE64.encode(s);
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"quay.io":{{"auth":"{}"}},"quay.io/org":{{"auth":"{}"}},"bad.io":{{"auth":"!!"}}}}}}"#,
                b64("hub:pw"),
                b64("quay:pw"),
                b64("org:pw:with:colons")
            ),
        )
        .unwrap();
        let get = |r: &str, repo: &str| lookup_auth_file(&path, r, repo);
        assert_eq!(
            get("docker.io", "library/busybox")
                .unwrap()
                .unwrap()
                .username,
            "hub"
        );
        assert_eq!(
            get("quay.io", "other/app").unwrap().unwrap().username,
            "quay"
        );
        let org = get("quay.io", "org/app").unwrap().unwrap();
        assert_eq!(
            (org.username.as_str(), org.password.as_str()),
            ("org", "pw:with:colons")
        );
        assert_eq!(
            get("quay.io", "organic/app").unwrap().unwrap().username,
            "quay"
        );
        assert!(get("example.com", "a").unwrap().is_none());
        assert!(matches!(
            get("bad.io", "a"),
            Err(AuthError::BadAuthField { .. })
        ));
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            get("quay.io", "a"),
            Err(AuthError::ParseFile { .. })
        ));
        assert!(lookup_auth_file(&dir.join("missing"), "quay.io", "a")
            .unwrap()
            .is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
