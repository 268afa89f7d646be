//! The client's error: every way a registry operation fails, each message
//! one line naming the registry, repository, URL or digest involved.

use crate::auth::AuthError;
use crate::manifest::ManifestError;
use berth_oci::Digest;
use berth_oci::VerifyError;

/// A failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection could be made (refused, no route, DNS, TLS handshake).
    #[error("registry {registry} is unreachable at {url}: {source}{earlier}")]
    Unreachable {
        /// The registry host\[:port\].
        registry: String,
        /// The URL tried last.
        url: String,
        /// The transport error.
        source: Box<ureq::Error>,
        /// The https failure when plain http was tried after it
        /// (`"; https://...: ..."`), else "".
        earlier: String,
    },
    /// A request failed below HTTP after the registry had answered before.
    #[error("{method} {url}: {source}")]
    Transport {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The transport error.
        source: Box<ureq::Error>,
    },
    /// The response body broke off or could not be read.
    #[error("{method} {url}: reading the response: {source}")]
    ResponseBody {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The read error.
        source: std::io::Error,
    },
    /// `GET /v2/` did not answer like a distribution registry.
    #[error(
        "registry {registry}: GET {url} answered HTTP {status}, not a registry API (200 or 401){earlier}"
    )]
    NotARegistry {
        /// The registry host\[:port\].
        registry: String,
        /// The URL.
        url: String,
        /// The status received.
        status: u16,
        /// The https failure when plain http was tried after it
        /// (`"; https://...: ..."`), else "".
        earlier: String,
    },
    /// Authentication is required and what was offered was refused or absent.
    #[error("{registry}/{repository}: unauthorized (HTTP 401){detail}; {hint}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The registry's own error message, if any (with a leading ": ").
        detail: String,
        /// Whether credentials were sent.
        hint: &'static str,
    },
    /// The credentials were accepted but lack the rights for this operation.
    #[error("{registry}/{repository}: access denied (HTTP 403){detail}")]
    Denied {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The registry's own error message, if any (with a leading ": ").
        detail: String,
    },
    /// The manifest (tag or digest) does not exist.
    #[error("manifest unknown: {reference}{detail}")]
    ManifestUnknown {
        /// The reference asked for.
        reference: String,
        /// The registry's own error message, if any (with a leading ": ").
        detail: String,
    },
    /// The blob does not exist in the repository.
    #[error("blob unknown: {digest} in {registry}/{repository}{detail}")]
    BlobUnknown {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The blob's digest.
        digest: Digest,
        /// The registry's own error message, if any (with a leading ": ").
        detail: String,
    },
    /// Any other unexpected HTTP status.
    #[error("{method} {url}: HTTP {status}{detail}")]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status received.
        status: u16,
        /// The registry's own error message, if any (with a leading ": ").
        detail: String,
    },
    /// An upload answer lacks the `Location` of the next step.
    #[error("{method} {url}: HTTP {status} without a Location header")]
    MissingLocation {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status received.
        status: u16,
    },
    /// A manifest is larger than this client accepts.
    #[error("manifest {reference}: larger than {limit} bytes")]
    ManifestTooLarge {
        /// The reference asked for.
        reference: String,
        /// The limit.
        limit: u64,
    },
    /// A manifest's bytes do not hash to the digest asked for or announced.
    #[error("manifest {reference}: content hashes to {actual}, the registry promised {expected}")]
    ManifestDigestMismatch {
        /// The reference asked for.
        reference: String,
        /// The digest asked for, or announced in Docker-Content-Digest.
        expected: String,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Writing pulled bytes to the caller's sink failed.
    #[error("blob {digest}: writing to the destination: {source}")]
    Sink {
        /// The blob's digest.
        digest: Digest,
        /// The write error.
        source: std::io::Error,
    },
    /// Reading the bytes to push from the caller's reader failed.
    #[error("blob {digest}: reading the content to push: {source}")]
    Source {
        /// The blob's digest.
        digest: Digest,
        /// The read error.
        source: std::io::Error,
    },
    /// A blob failed its size or digest check.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Credentials or a token could not be had.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A manifest or index could not be used.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}
