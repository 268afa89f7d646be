//! The registry client: manifests in, blobs in and out, manifests out.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::auth::Credentials;
use crate::error::Error;
use crate::manifest::{self, Manifest, ManifestError};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::transport::{self, Access, Request, RequestBody, Transport, TransportConfig};
use berth_oci::media::is_index;
use berth_oci::media::ACCEPTED_MANIFESTS as ACCEPTED;
use berth_oci::{BlobCheck, Digest, Platform, VerifyError};

/// Largest manifest accepted (containerd uses the same bound).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// Size of one read or write while streaming a blob.
const STREAM_BUFFER: usize = 256 * 1024;

/// How a [`Client`] connects and authenticates.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Credentials for every registry; when `None`, the auth file is read.
    pub credentials: Option<Credentials>,
    /// The docker-style auth file; when `None`, [`crate::default_auth_file`].
    pub auth_file: Option<PathBuf>,
    /// Allow plain http and unverified https for every registry, not only
    /// for localhost, 127.0.0.0/8 and ::1.
    pub insecure: bool,
    /// Upload blobs in chunks of this many bytes (PATCH, then PUT) instead
    /// of one monolithic PUT.
    pub chunk_size: Option<u64>,
}

/// What [`Client::push_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry already had the blob; nothing was sent.
    AlreadyExists,
    /// The blob was uploaded and verified by the registry.
    Uploaded,
}

/// A client for the OCI distribution API, shared across registries.
///
/// It keeps, per registry, the scheme that answered and the bearer tokens
/// granted; it is `Sync`, so one client can serve parallel transfers.
pub struct Client {
    transport: Transport,
    chunk_size: Option<u64>,
}

impl Client {
    /// A client with `options`.
    pub fn new(options: ClientOptions) -> Client {
        let config = TransportConfig {
            credentials: options.credentials,
            auth_file: options.auth_file,
            insecure: options.insecure,
            user_agent: format!("berth-registry/{}", env!("CARGO_PKG_VERSION")),
        };
        Client {
            transport: Transport::new(config),
            chunk_size: options.chunk_size.filter(|&c| c > 0),
        }
    }

    /// The image manifest of `reference` for `platform`.
    ///
    /// A multi-arch index (OCI index or Docker manifest list) is resolved to
    /// the entry for `platform` (see [`Platform::host`]), which is fetched
    /// by digest and verified.
    pub fn get_manifest(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Manifest, Error> {
        let top = self.fetch_manifest(reference)?;
        if !is_index(&top.media_type) {
            return Ok(top);
        }
        let digest = manifest::select_platform(&reference.to_string(), &top.bytes, platform)?;
        let image = self.fetch_manifest(&reference.with_digest(digest.clone()))?;
        if is_index(&image.media_type) {
            return Err(ManifestError::NestedIndex {
                reference: reference.to_string(),
                digest,
                platform: platform.to_string(),
            }
            .into());
        }
        Ok(image)
    }

    /// Whatever manifest `reference` names, index or image, unresolved.
    ///
    /// Its digest is checked against the reference's digest when pinned,
    /// else against the registry's `Docker-Content-Digest` header.
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<Manifest, Error> {
        let target = manifest_path(reference);
        let request = Request::new("GET", target.clone()).header("accept", ACCEPTED.join(", "));
        let mut response = self.transport.send(reference, Access::Pull, request)?;
        let url = self.transport.url(reference, &target)?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                return Err(Error::ManifestUnknown {
                    reference: reference.to_string(),
                    detail: transport::error_detail(&mut response),
                })
            }
            _ => return Err(self.unexpected(reference, "GET", &target, &mut response)),
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let announced = header("docker-content-digest");
        let bytes =
            transport::read_limited(&mut response, MAX_MANIFEST_SIZE + 1).map_err(|source| {
                Error::ResponseBody {
                    method: "GET",
                    url,
                    source,
                }
            })?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge {
                reference: reference.to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let media_type = manifest_media_type(reference, content_type.as_deref(), &bytes)?;
        let digest = verified_manifest_digest(reference, announced.as_deref(), &bytes)?;
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// Streams blob `digest` of `size` bytes from `reference`'s repository into `sink`.
    ///
    /// Size and digest are checked as the bytes pass: never more than `size`
    /// bytes reach `sink`, and `Ok` means every byte arrived and matched.
    /// On `Err` the sink may hold partial or wrong data, which the caller
    /// must discard.
    pub fn get_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        mut sink: impl Write,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let target = blob_path(reference, digest);
        let mut response =
            self.transport
                .send(reference, Access::Pull, Request::new("GET", target.clone()))?;
        let url = self.transport.url(reference, &target)?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(self.blob_unknown(reference, digest, &mut response)),
            _ => return Err(self.unexpected(reference, "GET", &target, &mut response)),
        }
        // A wrong Content-Length fails before a byte is written.
        let announced = response.body().content_length();
        if let Some(length) = announced.filter(|&length| length != size) {
            return Err(if length > size {
                VerifyError::TooLong {
                    digest: digest.clone(),
                    expected: size,
                }
            } else {
                VerifyError::Truncated {
                    digest: digest.clone(),
                    expected: size,
                    actual: length,
                }
            }
            .into());
        }

        // Stream: check each chunk before it reaches the sink.
        let mut check = BlobCheck::new(digest, size);
        let mut reader = response.body_mut().as_reader();
        let mut buffer = vec![0u8; STREAM_BUFFER];
        progress.update(0, size);
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::ResponseBody {
                        method: "GET",
                        url,
                        source,
                    })
                }
            };
            check.accept(&buffer[..n])?;
            sink.write_all(&buffer[..n]).map_err(|source| Error::Sink {
                digest: digest.clone(),
                source,
            })?;
            progress.update(check.done(), size);
        }
        check.finish()?;
        sink.flush().map_err(|source| Error::Sink {
            digest: digest.clone(),
            source,
        })?;
        Ok(())
    }

    /// Whether `reference`'s repository holds blob `digest`.
    pub fn blob_exists(&self, reference: &Reference, digest: &Digest) -> Result<bool, Error> {
        self.blob_exists_with(reference, digest, Access::Pull)
    }

    /// Uploads blob `digest` of `size` bytes read from `reader`, unless the
    /// repository already has it.
    ///
    /// The bytes are counted and hashed as they are read: a reader that
    /// yields other content fails with [`Error::Verify`] and the upload is
    /// abandoned. Uses one monolithic PUT, or PATCH chunks when
    /// [`ClientOptions::chunk_size`] is set and smaller than `size`.
    pub fn push_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        reader: impl Read,
        progress: &dyn Progress,
    ) -> Result<BlobPush, Error> {
        if self.blob_exists_with(reference, digest, Access::Push)? {
            progress.update(size, size);
            return Ok(BlobPush::AlreadyExists);
        }
        let mut source = CheckedReader {
            inner: reader,
            check: BlobCheck::new(digest, size),
            failure: None,
            progress,
            size,
        };
        progress.update(0, size);

        // Open an upload session, send the bytes, then close it with the digest.
        let location = self.start_upload(reference)?;
        let result = match self.chunk_size {
            Some(chunk) if chunk < size => self.upload_chunked(
                reference,
                digest,
                location.clone(),
                &mut source,
                size,
                chunk,
            ),
            _ => self.upload_monolithic(reference, digest, &location, &mut source, size),
        };
        if let Err(error) = result {
            self.cancel_upload(reference, &location);
            // What the reader saw explains the failure better than the broken request.
            let seen = source
                .failure
                .take()
                .or_else(|| source.verdict_when_complete());
            return Err(seen.unwrap_or(error));
        }
        progress.update(size, size);
        Ok(BlobPush::Uploaded)
    }

    /// Links blob `digest` from `from_repository` of the same registry into
    /// `reference`'s repository, without sending its bytes.
    ///
    /// `Ok(true)`: mounted. `Ok(false)`: the registry declined (the source
    /// lacks the blob, or mounting is off); the upload session it opened
    /// instead is cancelled, and the caller pushes the blob with
    /// [`Client::push_blob`].
    pub fn mount_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        from_repository: &str,
    ) -> Result<bool, Error> {
        let target = format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            reference.repository(),
            crate::auth::percent_encode(&digest.to_string()),
            crate::auth::percent_encode(from_repository),
        );
        let access = Access::Mount {
            from: from_repository,
        };
        let mut response =
            self.transport
                .send(reference, access, Request::new("POST", target.clone()))?;
        match response.status().as_u16() {
            201 => Ok(true),
            202 => {
                if let Some(location) = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                {
                    self.cancel_upload(reference, &self.transport.url(reference, location)?);
                }
                Ok(false)
            }
            _ => Err(self.unexpected(reference, "POST", &target, &mut response)),
        }
    }

    /// Uploads a manifest under `reference`'s tag (or digest) and returns its digest.
    ///
    /// When `reference` is pinned to a digest, `bytes` must hash to it.
    pub fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        let digest = match reference.digest() {
            Some(pinned) if pinned.matches(bytes) => pinned.clone(),
            Some(pinned) => {
                return Err(Error::ManifestDigestMismatch {
                    reference: reference.to_string(),
                    expected: pinned.to_string(),
                    actual: Digest::of_bytes(bytes),
                })
            }
            None => Digest::of_bytes(bytes),
        };
        let target = match reference.tag() {
            Some(tag) => format!("/v2/{}/manifests/{tag}", reference.repository()),
            None => format!("/v2/{}/manifests/{digest}", reference.repository()),
        };
        let request = Request::new("PUT", target.clone())
            .header("content-type", media_type)
            .body(RequestBody::Bytes(bytes));
        let mut response = self.transport.send(reference, Access::Push, request)?;
        match response.status().as_u16() {
            200 | 201 => Ok(digest),
            _ => Err(self.unexpected(reference, "PUT", &target, &mut response)),
        }
    }

    fn blob_exists_with(
        &self,
        reference: &Reference,
        digest: &Digest,
        access: Access,
    ) -> Result<bool, Error> {
        let target = blob_path(reference, digest);
        let mut response =
            self.transport
                .send(reference, access, Request::new("HEAD", target.clone()))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(reference, "HEAD", &target, &mut response)),
        }
    }

    /// An unexpected status of `method target`, with the registry's explanation.
    fn unexpected(
        &self,
        reference: &Reference,
        method: &'static str,
        target: &str,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> Error {
        let url = match self.transport.url(reference, target) {
            Ok(url) => url,
            Err(error) => return error,
        };
        let status = response.status().as_u16();
        Error::Status {
            method,
            url,
            status,
            detail: transport::error_detail(response),
        }
    }

    fn blob_unknown(
        &self,
        reference: &Reference,
        digest: &Digest,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> Error {
        Error::BlobUnknown {
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            digest: digest.clone(),
            detail: transport::error_detail(response),
        }
    }

    /// `POST /v2/NAME/blobs/uploads/`: the upload session's URL.
    fn start_upload(&self, reference: &Reference) -> Result<String, Error> {
        let target = format!("/v2/{}/blobs/uploads/", reference.repository());
        let response = self.transport.send(
            reference,
            Access::Push,
            Request::new("POST", target.clone()),
        )?;
        self.expect_location(reference, "POST", &target, response, 202)
    }

    /// One `PUT LOCATION?digest=` with the whole blob.
    fn upload_monolithic(
        &self,
        reference: &Reference,
        digest: &Digest,
        location: &str,
        source: &mut dyn Read,
        size: u64,
    ) -> Result<(), Error> {
        let request = Request::new("PUT", with_digest_query(location, digest))
            .header("content-type", "application/octet-stream")
            .body(RequestBody::Stream {
                reader: source,
                len: size,
            });
        self.finish_upload(reference, request)
    }

    /// `PATCH` chunks with `Content-Range`, then an empty `PUT LOCATION?digest=`.
    fn upload_chunked<R: Read>(
        &self,
        reference: &Reference,
        digest: &Digest,
        mut location: String,
        source: &mut CheckedReader<'_, R>,
        size: u64,
        chunk: u64,
    ) -> Result<(), Error> {
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut part = Read::take(&mut *source, len);
            let request = Request::new("PATCH", location.clone())
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{offset}-{}", offset + len - 1))
                .body(RequestBody::Stream {
                    reader: &mut part,
                    len,
                });
            let response = self.transport.send(reference, Access::Push, request)?;
            location = self.expect_location(reference, "PATCH", &location, response, 202)?;
            offset += len;
        }
        // The reader must end exactly at `size` and hash to `digest`.
        source.expect_end()?;
        self.finish_upload(
            reference,
            Request::new("PUT", with_digest_query(&location, digest)),
        )
    }

    fn finish_upload(&self, reference: &Reference, request: Request<'_>) -> Result<(), Error> {
        let target = request.target.clone();
        let mut response = self.transport.send(reference, Access::Push, request)?;
        match response.status().as_u16() {
            201 => Ok(()),
            _ => Err(self.unexpected(reference, "PUT", &target, &mut response)),
        }
    }

    /// Best-effort `DELETE` of an abandoned upload session.
    fn cancel_upload(&self, reference: &Reference, location: &str) {
        let _ = self
            .transport
            .send(reference, Access::Push, Request::new("DELETE", location));
    }

    fn expect_location(
        &self,
        reference: &Reference,
        method: &'static str,
        target: &str,
        mut response: ureq::http::Response<ureq::Body>,
        expected: u16,
    ) -> Result<String, Error> {
        let status = response.status().as_u16();
        if status != expected {
            return Err(self.unexpected(reference, method, target, &mut response));
        }
        let url = self.transport.url(reference, target)?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok());
        match location {
            Some(location) if !location.is_empty() => {
                Ok(self.transport.url(reference, location)?)
            }
            _ => Err(Error::MissingLocation {
                method,
                url,
                status,
            }),
        }
    }
}

/// A reader that checks size and digest of what passes through it and
/// reports progress; a failed check surfaces as an I/O error to the HTTP
/// body writer and is kept in `failure` for the caller.
struct CheckedReader<'p, R> {
    inner: R,
    check: BlobCheck,
    failure: Option<Error>,
    progress: &'p dyn Progress,
    size: u64,
}

impl<R: Read> CheckedReader<'_, R> {
    /// After the last byte: one more read must find the end, and the
    /// content must match.
    fn expect_end(&mut self) -> Result<(), Error> {
        let mut probe = [0u8; 1];
        match self.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.failure.take().unwrap_or_else(|| {
                VerifyError::TooLong {
                    digest: self.check_digest(),
                    expected: self.size,
                }
                .into()
            })),
            Err(_) => Err(self
                .failure
                .take()
                .expect("a failed read records its cause")),
        }
    }

    /// When every byte was read but the request failed (a registry
    /// refusing the digest, say): the local verdict on the content.
    fn verdict_when_complete(&mut self) -> Option<Error> {
        (self.check.done() == self.size)
            .then(|| self.check.finish().err())
            .flatten()
            .map(Into::into)
    }

    fn check_digest(&self) -> Digest {
        self.check.expected().clone()
    }
}

impl<R: Read> Read for CheckedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => return Err(error),
            Err(error) => {
                let digest = self.check_digest();
                let kind = error.kind();
                self.failure = Some(Error::Source {
                    digest,
                    source: error,
                });
                return Err(std::io::Error::new(kind, "reading the blob to push failed"));
            }
        };
        let verdict = if n == 0 {
            self.check.finish()
        } else {
            self.check.accept(&buf[..n])
        };
        if let Err(failure) = verdict {
            self.failure = Some(failure.into());
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "blob content failed its check",
            ));
        }
        self.progress.update(self.check.done(), self.size);
        Ok(n)
    }
}

fn manifest_path(reference: &Reference) -> String {
    format!(
        "/v2/{}/manifests/{}",
        reference.repository(),
        reference.manifest_target()
    )
}

fn blob_path(reference: &Reference, digest: &Digest) -> String {
    format!("/v2/{}/blobs/{digest}", reference.repository())
}

fn with_digest_query(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{separator}digest={}",
        crate::auth::percent_encode(&digest.to_string())
    )
}

/// The manifest's media type: from Content-Type, else from its `mediaType` field.
fn manifest_media_type(
    reference: &Reference,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<String, Error> {
    let from_header =
        content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_owned());
    if let Some(media_type) = from_header.as_deref().filter(|m| ACCEPTED.contains(m)) {
        return Ok(media_type.to_owned());
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let from_body = serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.media_type);
    match from_body {
        Some(media_type) if ACCEPTED.contains(&media_type.as_str()) => Ok(media_type),
        other => Err(ManifestError::UnsupportedMediaType {
            reference: reference.to_string(),
            media_type: other.or(from_header).unwrap_or_else(|| "(none)".into()),
        }
        .into()),
    }
}

/// The digest of manifest `bytes`, checked against the pinned or announced one.
fn verified_manifest_digest(
    reference: &Reference,
    announced: Option<&str>,
    bytes: &[u8],
) -> Result<Digest, Error> {
    let expected = match (
        reference.digest(),
        announced.and_then(|a| Digest::parse(a).ok()),
    ) {
        (Some(pinned), _) => pinned.clone(),
        (None, Some(announced)) => announced,
        (None, None) => return Ok(Digest::of_bytes(bytes)),
    };
    if expected.matches(bytes) {
        return Ok(expected);
    }
    Err(Error::ManifestDigestMismatch {
        reference: reference.to_string(),
        expected: expected.to_string(),
        actual: Digest::of_bytes(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::media::{DOCKER_MANIFEST, OCI_INDEX};

    #[test]
    fn client_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Client>();
    }

    #[test]
    fn manifest_media_type_from_header_or_body() {
        let r = Reference::parse("localhost/a").unwrap();
        let body = format!(r#"{{"mediaType":"{OCI_INDEX}"}}"#);
        let header = format!("{DOCKER_MANIFEST}; charset=utf-8");
        assert_eq!(
            manifest_media_type(&r, Some(&header), b"{}").unwrap(),
            DOCKER_MANIFEST
        );
        assert_eq!(
            manifest_media_type(&r, Some("application/json"), body.as_bytes()).unwrap(),
            OCI_INDEX
        );
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let error = manifest_media_type(&r, Some(schema1), b"{}").unwrap_err();
        assert!(error.to_string().contains(schema1), "{error}");
    }
}
