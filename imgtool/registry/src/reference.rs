//! Docker-style image references: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`.
//!
//! The rules follow the distribution reference grammar: the first path
//! component is a registry host when it contains a `.` or a `:`, is
//! `localhost`, or has uppercase letters; otherwise the registry is Docker
//! Hub (`docker.io`) and a one-component path gains the `library/` prefix.
//! A reference with neither tag nor digest means the tag `latest`.

use std::fmt;
use std::str::FromStr;

use berth_oci::{Digest, DigestError};

/// The registry name used when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's distribution API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Longest repository path the distribution API accepts.
const MAX_REPOSITORY_LEN: usize = 255;
/// Longest tag the distribution API accepts.
const MAX_TAG_LEN: usize = 128;

/// Why a reference string was refused; each variant names the wrong part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The string is empty.
    #[error("image reference is empty")]
    Empty,
    /// The registry part is not a host name, IPv4/IPv6 address or port.
    #[error("image reference {reference:?}: registry {registry:?} is not a valid HOST[:PORT]")]
    Registry {
        /// The refused reference.
        reference: String,
        /// The registry part.
        registry: String,
    },
    /// A repository path component breaks the naming rules.
    #[error(
        "image reference {reference:?}: repository component {component:?} must be lowercase \
         letters and digits, separated by '.', '_', '__' or dashes"
    )]
    Repository {
        /// The refused reference.
        reference: String,
        /// The offending path component.
        component: String,
    },
    /// The repository path is longer than the API allows.
    #[error("image reference {reference:?}: repository path is {len} characters, at most {MAX_REPOSITORY_LEN} are allowed")]
    RepositoryTooLong {
        /// The refused reference.
        reference: String,
        /// Its length.
        len: usize,
    },
    /// The tag breaks the tag rules.
    #[error(
        "image reference {reference:?}: tag {tag:?} must be 1 to {MAX_TAG_LEN} letters, digits, \
         '_', '.' or '-', not starting with '.' or '-'"
    )]
    Tag {
        /// The refused reference.
        reference: String,
        /// The tag part.
        tag: String,
    },
    /// The digest part is not a valid digest.
    #[error("image reference {reference:?}: {source}")]
    Digest {
        /// The refused reference.
        reference: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference such as `busybox`, `quay.io/org/app:1.2`,
    /// `localhost:5000/app@sha256:...` or `[::1]:5000/app:tag`.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        // Split off the digest first: it is the only part that may hold '@'.
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest).map_err(|source| ReferenceError::Digest {
                    reference: text.to_owned(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (text, None),
        };

        // The registry is the first component when it looks like a host.
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if looks_like_host(first) => (Some(first), path),
            _ => (None, rest),
        };

        // The tag follows the last ':' of the path (a port lives in the registry part).
        let (path, tag) = match path.rsplit_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (path, None),
        };

        let registry = match registry {
            Some(host) if valid_host_port(host) => host.to_owned(),
            Some(host) => {
                return Err(ReferenceError::Registry {
                    reference: text.to_owned(),
                    registry: host.to_owned(),
                })
            }
            None => DOCKER_HUB.to_owned(),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };

        for component in path.split('/') {
            if !valid_path_component(component) {
                return Err(ReferenceError::Repository {
                    reference: text.to_owned(),
                    component: component.to_owned(),
                });
            }
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        if repository.len() > MAX_REPOSITORY_LEN {
            return Err(ReferenceError::RepositoryTooLong {
                reference: text.to_owned(),
                len: repository.len(),
            });
        }

        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::Tag {
                    reference: text.to_owned(),
                    tag: tag.to_owned(),
                });
            }
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry name as written (`docker.io` when none was).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host\[:port\] that serves the registry's API (`registry-1.docker.io`
    /// for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` when the reference named neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pinned one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What the manifest endpoint is asked for: the digest when pinned, else the tag.
    pub fn manifest_target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository pinned to `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            tag: None,
            ..self.clone()
        }
    }

    /// The same repository with `tag` (any digest is dropped).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag {
                reference: self.to_string(),
                tag: tag.to_owned(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Reference::parse(text)
    }
}

/// Whether the first path component names a registry rather than a namespace.
fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.bytes().any(|b| b.is_ascii_uppercase())
}

/// `host[:port]` where host is a DNS name, IPv4 address or bracketed IPv6 address.
fn valid_host_port(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return v6.parse::<std::net::Ipv6Addr>().is_ok() && port_ok;
    }
    let (host, port_ok) = match text.split_once(':') {
        Some((host, port)) => (host, valid_port(port)),
        None => (text, true),
    };
    port_ok
        && !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A decimal TCP port, 1 to 65535.
fn valid_port(port: &str) -> bool {
    port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(text).unwrap();
        (
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(ToString::to_string),
        )
    }

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("busybox"),
            (
                "docker.io".into(),
                "library/busybox".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(parts("user/app:1.0").1, "user/app");
        assert_eq!(parts("docker.io/busybox").1, "library/busybox");
        assert_eq!(parts("index.docker.io/busybox").0, "docker.io");
        assert_eq!(
            Reference::parse("busybox").unwrap().api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        assert_eq!(
            parts("localhost:5000/a/b:v1"),
            (
                "localhost:5000".into(),
                "a/b".into(),
                Some("v1".into()),
                None
            )
        );
        assert_eq!(parts("127.0.0.1:5000/app").2.as_deref(), Some("latest"));
        assert_eq!(parts("[::1]:5000/app:t").0, "[::1]:5000");
        assert_eq!(parts("Registry/app").0, "Registry");
        let pinned = parts(&format!("quay.io/org/app@{D}"));
        assert_eq!((pinned.2, pinned.3.as_deref()), (None, Some(D)));
        let both = parts(&format!("quay.io/org/app:1@{D}"));
        assert_eq!(both.2.as_deref(), Some("1"));
        let r = Reference::parse(&format!("quay.io/org/app:1@{D}")).unwrap();
        assert_eq!(r.manifest_target(), D);
        assert_eq!(r.to_string(), format!("quay.io/org/app:1@{D}"));
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let e = |s: &str| Reference::parse(s).unwrap_err();
        assert!(matches!(e(""), ReferenceError::Empty));
        assert!(matches!(
            e("bad_host.io:99999/app"),
            ReferenceError::Registry { .. }
        ));
        assert!(matches!(
            e("[zz]:5000/app"),
            ReferenceError::Registry { .. }
        ));
        assert!(
            matches!(e("quay.io/Org/app"), ReferenceError::Repository { component, .. } if component == "Org")
        );
        assert!(matches!(e("app//x"), ReferenceError::Repository { .. }));
        assert!(matches!(e("a..b"), ReferenceError::Repository { .. }));
        assert!(matches!(e("app:-bad"), ReferenceError::Tag { .. }));
        assert!(matches!(e("app:"), ReferenceError::Tag { .. }));
        assert!(matches!(e("app@sha256:abc"), ReferenceError::Digest { .. }));
        let long = format!("quay.io/{}", "a".repeat(300));
        assert!(matches!(e(&long), ReferenceError::RepositoryTooLong { .. }));
        let message = e("quay.io/Org/app").to_string();
        assert!(
            !message.contains('\n') && message.contains("\"Org\""),
            "{message}"
        );
    }

    #[test]
    fn separators() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "a1-2.3_4"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["a___b", "a._b", "_a", "a-", "A", ""] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Pseudo-random strings over the characters references are made of,
    /// plus multibyte ones: parsing refuses or accepts, never panics, and
    /// what it accepts prints back to something that parses the same.
    #[test]
    fn arbitrary_strings_never_panic_and_round_trip() {
        let alphabet: Vec<char> = "aZ09:/@._-[]é\u{1F600} sha256".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut accepted = 0;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((state >> (i % 60)) as usize + i * 7) % alphabet.len()])
                .collect();
            if let Ok(reference) = Reference::parse(&text) {
                accepted += 1;
                let again = Reference::parse(&reference.to_string()).unwrap();
                assert_eq!(again, reference, "{text:?}");
            }
        }
        assert!(
            accepted > 100,
            "the generator reaches valid references ({accepted})"
        );
    }
}
