//! Checking a blob's size and digest while it streams, in either direction.

use crate::digest::{Digest, Hasher};

/// How a streamed blob failed its check.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// More bytes arrived than the descriptor's size.
    #[error("blob {digest}: more than the expected {expected} bytes")]
    TooLong {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected: u64,
    },
    /// The stream ended before the descriptor's size.
    #[error("blob {digest}: stream ended after {actual} of {expected} bytes")]
    Truncated {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected: u64,
        /// The bytes that arrived.
        actual: u64,
    },
    /// The bytes hash to something else.
    #[error("blob {digest}: content hashes to {actual}")]
    DigestMismatch {
        /// The expected digest.
        digest: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
}

/// Running size and hash of one blob against its descriptor.
pub(crate) struct BlobCheck {
    expected: Digest,
    size: u64,
    done: u64,
    hasher: Option<Hasher>,
}

impl BlobCheck {
    pub(crate) fn new(expected: &Digest, size: u64) -> BlobCheck {
        BlobCheck {
            expected: expected.clone(),
            size,
            done: 0,
            hasher: Some(Hasher::new(expected.algorithm())),
        }
    }

    /// The digest the content must have.
    pub(crate) fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Bytes counted so far.
    pub(crate) fn done(&self) -> u64 {
        self.done
    }

    /// Counts and hashes `chunk`; refuses it when it would pass the size.
    pub(crate) fn accept(&mut self, chunk: &[u8]) -> Result<(), VerifyError> {
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

    /// At the end of the stream: the size must be complete and the digest equal.
    pub(crate) fn finish(&mut self) -> Result<(), VerifyError> {
        if self.done != self.size {
            return Err(VerifyError::Truncated {
                digest: self.expected.clone(),
                expected: self.size,
                actual: self.done,
            });
        }
        let actual = match self.hasher.take() {
            Some(hasher) => hasher.finish(),
            None => return Ok(()), // already finished and checked
        };
        if actual != self.expected {
            return Err(VerifyError::DigestMismatch {
                digest: self.expected.clone(),
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_long_short_and_wrong() {
        let digest = Digest::sha256_of(b"hello");
        let mut ok = BlobCheck::new(&digest, 5);
        ok.accept(b"hel").unwrap();
        ok.accept(b"lo").unwrap();
        ok.finish().unwrap();

        let mut long = BlobCheck::new(&digest, 5);
        assert!(matches!(
            long.accept(b"hello!"),
            Err(VerifyError::TooLong { .. })
        ));

        let mut short = BlobCheck::new(&digest, 5);
        short.accept(b"hell").unwrap();
        assert!(matches!(
            short.finish(),
            Err(VerifyError::Truncated { actual: 4, .. })
        ));

        let mut wrong = BlobCheck::new(&digest, 5);
        wrong.accept(b"jello").unwrap();
        assert!(matches!(
            wrong.finish(),
            Err(VerifyError::DigestMismatch { .. })
        ));
    }
}
