//! A blob checked against its descriptor (digest and size) while it
//! streams, in either direction: [`BlobCheck`] counts and hashes chunks that
//! are pushed through it, [`VerifyingReader`] wraps a reader with one.

use std::io::{self, Read};

use crate::digest::{Digest, Hasher};

/// How a streamed blob failed its check.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// More bytes arrived than the descriptor's size.
    #[error("blob {digest}: content does not match its descriptor (more than the expected {expected} bytes)")]
    TooLong {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected: u64,
    },
    /// The stream ended before the descriptor's size.
    #[error("blob {digest}: content does not match its descriptor (it ended after {actual} of {expected} bytes)")]
    Truncated {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected: u64,
        /// The bytes that arrived.
        actual: u64,
    },
    /// The bytes hash to something else.
    #[error("blob {digest}: content does not match its descriptor (it hashes to {actual})")]
    DigestMismatch {
        /// The expected digest.
        digest: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
}

impl VerifyError {
    /// Compare what a blob turned out to be with what it should be.
    pub fn compare(
        expected: &Digest,
        expected_size: u64,
        actual: &Digest,
        actual_size: u64,
    ) -> Result<(), VerifyError> {
        if actual_size > expected_size {
            return Err(VerifyError::TooLong {
                digest: expected.clone(),
                expected: expected_size,
            });
        }
        if actual_size < expected_size {
            return Err(VerifyError::Truncated {
                digest: expected.clone(),
                expected: expected_size,
                actual: actual_size,
            });
        }
        if actual != expected {
            return Err(VerifyError::DigestMismatch {
                digest: expected.clone(),
                actual: actual.clone(),
            });
        }
        Ok(())
    }

    /// The digest the blob should have had.
    pub fn expected(&self) -> &Digest {
        match self {
            VerifyError::TooLong { digest, .. }
            | VerifyError::Truncated { digest, .. }
            | VerifyError::DigestMismatch { digest, .. } => digest,
        }
    }

    /// Take the error a [`VerifyingReader`] reported out of an io error
    /// (decompressors and parsers pass it on); any other error is given back.
    pub fn from_io(error: io::Error) -> Result<VerifyError, io::Error> {
        if !error
            .get_ref()
            .is_some_and(|inner| inner.is::<VerifyError>())
        {
            return Err(error);
        }
        let kind = error.kind();
        match error
            .into_inner()
            .map(|inner| inner.downcast::<VerifyError>())
        {
            Some(Ok(mismatch)) => Ok(*mismatch),
            _ => Err(kind.into()),
        }
    }

    /// Whether `error` carries a [`VerifyError`].
    pub fn is_in(error: &io::Error) -> bool {
        error
            .get_ref()
            .is_some_and(|inner| inner.is::<VerifyError>())
    }
}

impl From<VerifyError> for io::Error {
    fn from(error: VerifyError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

/// Running size and hash of one blob against its descriptor.
pub struct BlobCheck {
    expected: Digest,
    size: u64,
    done: u64,
    hasher: Option<Hasher>,
}

impl BlobCheck {
    /// Check a blob that must hash to `expected` and be `size` bytes long.
    pub fn new(expected: &Digest, size: u64) -> BlobCheck {
        BlobCheck {
            expected: expected.clone(),
            size,
            done: 0,
            hasher: Some(Hasher::new(expected.algorithm())),
        }
    }

    /// The digest the content must have.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Bytes counted so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Counts and hashes `chunk`; refuses it when it would pass the size.
    pub fn accept(&mut self, chunk: &[u8]) -> Result<(), VerifyError> {
        let len = chunk.len() as u64;
        if self.done + len > self.size {
            return Err(VerifyError::TooLong {
                digest: self.expected.clone(),
                expected: self.size,
            });
        }
        self.done += len;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(chunk);
        }
        Ok(())
    }

    /// At the end of the stream: the size must be complete and the digest
    /// equal. Calling it again after success succeeds.
    pub fn finish(&mut self) -> Result<(), VerifyError> {
        if self.done != self.size {
            return Err(VerifyError::Truncated {
                digest: self.expected.clone(),
                expected: self.size,
                actual: self.done,
            });
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(()); // already finished and checked
        };
        let actual = hasher.finish();
        if actual != self.expected {
            return Err(VerifyError::DigestMismatch {
                digest: self.expected.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Reads a blob and fails (InvalidData carrying a [`VerifyError`]) as soon
/// as it grows past its size, and at its end when it is short or hashes to
/// something else. Only a reader read to its end has been verified.
pub struct VerifyingReader<R> {
    inner: R,
    check: BlobCheck,
}

impl<R: Read> VerifyingReader<R> {
    /// Verify `inner` against `digest` and `size`.
    pub fn new(inner: R, digest: Digest, size: u64) -> Self {
        Self {
            inner,
            check: BlobCheck::new(&digest, size),
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.check.accept(&buf[..n])?;
        } else if !buf.is_empty() {
            self.check.finish()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: Digest, size: u64) -> Result<Vec<u8>, VerifyError> {
        let mut out = Vec::new();
        VerifyingReader::new(data, digest, size)
            .read_to_end(&mut out)
            .map_err(|e| VerifyError::from_io(e).unwrap())?;
        Ok(out)
    }

    #[test]
    fn reader_accepts_matching_and_rejects_changed_blobs() {
        let digest = Digest::of_bytes(b"hello");
        assert_eq!(read_all(b"hello", digest.clone(), 5).unwrap(), b"hello");
        assert!(matches!(
            read_all(b"hellO", digest.clone(), 5),
            Err(VerifyError::DigestMismatch { .. })
        ));
        assert!(matches!(
            read_all(b"hell", digest.clone(), 5),
            Err(VerifyError::Truncated { actual: 4, .. })
        ));
        assert!(matches!(
            read_all(b"hello!", digest.clone(), 5),
            Err(VerifyError::TooLong { .. })
        ));
        assert!(read_all(b"hello", digest, 6).is_err());
    }

    #[test]
    fn check_catches_long_short_and_wrong() {
        let digest = Digest::of_bytes(b"hello");
        let mut ok = BlobCheck::new(&digest, 5);
        ok.accept(b"hel").unwrap();
        ok.accept(b"lo").unwrap();
        ok.finish().unwrap();
        ok.finish().unwrap();
        let mut long = BlobCheck::new(&digest, 5);
        assert!(matches!(
            long.accept(b"hello!"),
            Err(VerifyError::TooLong { .. })
        ));
        let mut wrong = BlobCheck::new(&digest, 5);
        wrong.accept(b"jello").unwrap();
        assert!(matches!(
            wrong.finish(),
            Err(VerifyError::DigestMismatch { .. })
        ));
    }
}
