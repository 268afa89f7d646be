//! Reading blobs back with their digest and size checked as they stream.

use std::io::{self, Read};

use crate::digest::{Digest, HashingReader};

/// A blob that did not match its descriptor, reported through `io::Error`
/// (kind InvalidData) by [`VerifyingReader`].
#[derive(Debug, thiserror::Error)]
#[error("blob {expected}: content does not match its descriptor (read {actual_size} bytes hashing to {actual}, expected {expected_size} bytes)")]
pub struct BlobMismatch {
    /// The digest the descriptor names.
    pub expected: Digest,
    /// The size the descriptor names.
    pub expected_size: u64,
    /// The digest of what was read.
    pub actual: Digest,
    /// How many bytes were read.
    pub actual_size: u64,
}

impl BlobMismatch {
    /// Take the mismatch a [`VerifyingReader`] reported out of an io error;
    /// any other error is given back.
    pub fn from_io(error: io::Error) -> Result<Self, io::Error> {
        if !error.get_ref().is_some_and(|inner| inner.is::<Self>()) {
            return Err(error);
        }
        let kind = error.kind();
        match error.into_inner().map(|inner| inner.downcast::<Self>()) {
            Some(Ok(mismatch)) => Ok(*mismatch),
            _ => Err(kind.into()),
        }
    }
}

/// Reads a blob and fails (InvalidData, with a [`BlobMismatch`]) at its end
/// when the content does not hash to the expected digest or has the wrong
/// size; fails early when it grows past the size.
pub struct VerifyingReader<R> {
    inner: Option<HashingReader<io::Take<R>>>,
    expected: Digest,
    expected_size: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Verify `inner` against `digest` and `size`.
    pub fn new(inner: R, digest: Digest, size: u64) -> Self {
        // One byte beyond the size lets an oversized blob be detected.
        Self {
            inner: Some(HashingReader::new(inner.take(size + 1))),
            expected: digest,
            expected_size: size,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(0);
        };
        let n = inner.read(buf)?;
        if n > 0 && inner_count(inner) <= self.expected_size {
            return Ok(n);
        }
        let Some(inner) = self.inner.take() else {
            return Ok(0);
        };
        let (actual, actual_size) = inner.finish();
        if actual_size == self.expected_size && actual == self.expected {
            return Ok(n);
        }
        let mismatch = BlobMismatch {
            expected: self.expected.clone(),
            expected_size: self.expected_size,
            actual,
            actual_size,
        };
        Err(io::Error::new(io::ErrorKind::InvalidData, mismatch))
    }
}

fn inner_count<R: Read>(reader: &HashingReader<R>) -> u64 {
    reader.count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: Digest, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        VerifyingReader::new(data, digest, size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn accepts_matching_and_rejects_changed_blobs() {
        let digest = Digest::of_bytes(b"hello");
        assert_eq!(read_all(b"hello", digest.clone(), 5).unwrap(), b"hello");
        assert!(read_all(b"hellO", digest.clone(), 5).is_err());
        assert!(read_all(b"hell", digest.clone(), 5).is_err());
        assert!(read_all(b"hello!", digest.clone(), 5).is_err());
        assert!(read_all(b"hello", digest, 6).is_err());
    }
}
