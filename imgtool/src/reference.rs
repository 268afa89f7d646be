//! Image references `name[:tag]` as kept in the store's index.

use std::fmt;
use std::str::FromStr;

/// Errors of parsing a reference.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The name part is empty or has characters outside `[a-z0-9._/-]` (and a registry `host:port`).
    #[error("reference {value:?}: invalid name (lowercase letters, digits, '.', '_', '-' and '/' separated components)")]
    Name {
        /// The reference as given.
        value: String,
    },
    /// The registry's port is not a number from 1 to 65535.
    #[error("reference {value:?}: registry port {port:?} is not a number from 1 to 65535")]
    Port {
        /// The reference as given.
        value: String,
        /// The port part.
        port: String,
    },
    /// The tag is longer than 128 or has characters outside `[A-Za-z0-9_.-]`.
    #[error("reference {value:?}: invalid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)")]
    Tag {
        /// The reference as given.
        value: String,
    },
}

/// A `name:tag` reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    name: String,
    tag: String,
}

impl Reference {
    /// The repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

fn valid_component(component: &str) -> bool {
    !component.is_empty()
        && component
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && component.as_bytes()[0].is_ascii_alphanumeric()
}

fn valid_host(host: &str) -> bool {
    let name = host.split_once(':').map_or(host, |(name, _)| name);
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !name.contains("..")
}

/// The port of a `host:port` registry, when it is not 1 to 65535.
fn bad_port(host: &str) -> Option<&str> {
    let (_, port) = host.split_once(':')?;
    let valid = port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    (!valid).then_some(port)
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-'])
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let last_slash = value.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match value[last_slash..].rfind(':') {
            Some(i) => (&value[..last_slash + i], &value[last_slash + i + 1..]),
            None => (value, "latest"),
        };
        let mut components = name.split('/').collect::<Vec<_>>();
        let host_like = components.len() > 1
            && (components[0].contains([':', '.']) || components[0] == "localhost");
        if host_like && !valid_host(components[0]) {
            return Err(ReferenceError::Name {
                value: value.to_string(),
            });
        }
        if let Some(port) = bad_port(components[0]).filter(|_| host_like) {
            return Err(ReferenceError::Port {
                value: value.to_string(),
                port: port.to_string(),
            });
        }
        if host_like {
            components.remove(0);
        }
        if name.len() > 255 || !components.iter().all(|c| valid_component(c)) {
            return Err(ReferenceError::Name {
                value: value.to_string(),
            });
        }
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag {
                value: value.to_string(),
            });
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_tags_and_registries() {
        let r: Reference = "busybox".parse().unwrap();
        assert_eq!(r.to_string(), "busybox:latest");
        let r: Reference = "localhost:5000/a/b:v1.2".parse().unwrap();
        assert_eq!((r.name(), r.tag()), ("localhost:5000/a/b", "v1.2"));
        for bad in [
            "",
            "Busy",
            "a//b",
            "a:",
            "a:-x",
            "../x",
            "a b",
            "/a",
            "localhost:99999/x",
            "localhost:0/x",
            "localhost:/x",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
