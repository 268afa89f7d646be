//! Layer unpacking: a layer blob (tar, tar+gzip or tar+zstd) written into a
//! directory, every entry resolved below it by file descriptor.
//!
//! Two threads per layer: one reads the blob, checks its digest and inflates
//! it; the other parses tar and makes the filesystem calls. Layers unpack in
//! parallel with each other.

mod entry;
mod limits;
mod tree;
mod whiteout;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

pub use limits::Limits;

pub use crate::oci::Compression;
use crate::oci::{Descriptor, Digest, Escaped, Hasher, VerifyError, VerifyingReader};
use crate::sys::Errno;
use entry::Unpacker;
use limits::{Exceeded, MeteredReader};

/// Errors of unpacking a layer. Each names the layer and, where there is one, the entry.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The blob could not be opened or read.
    #[error("layer {layer}: {call} {path}: {source}")]
    Source {
        /// The layer.
        layer: String,
        /// The call.
        call: &'static str,
        /// The blob path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The blob does not match its digest or size.
    #[error("layer {layer}: {source}")]
    Mismatch {
        /// The layer.
        layer: String,
        /// The mismatch.
        source: VerifyError,
    },
    /// The compressed stream is corrupt.
    #[error("layer {layer}: {format} stream is corrupt: {source}")]
    Decompress {
        /// The layer.
        layer: String,
        /// gzip or zstd.
        format: &'static str,
        /// The decoder's error.
        source: io::Error,
    },
    /// The tar stream is malformed (the parser's message may echo header
    /// bytes, so it is shown escaped).
    #[error("layer {layer}: malformed tar near byte {offset}: {}", Escaped(.source))]
    Tar {
        /// The layer.
        layer: String,
        /// Uncompressed offset.
        offset: u64,
        /// The parser's error.
        source: io::Error,
    },
    /// The content is not in the compression its media type declares.
    #[error("layer {layer}: its media type declares {declared} but the content is {found}")]
    Compression {
        /// The layer.
        layer: String,
        /// What the media type says (tar, gzip, zstd).
        declared: &'static str,
        /// What the bytes are.
        found: &'static str,
    },
    /// The uncompressed tar does not hash to the config's diff_id.
    #[error("layer {layer}: uncompressed content hashes to {actual}, but the image config's diff_id is {expected}")]
    DiffId {
        /// The layer.
        layer: String,
        /// The diff_id the image config lists for it.
        expected: Digest,
        /// What the uncompressed stream hashes to.
        actual: Digest,
    },
    /// A limit was passed.
    #[error("layer {layer}: {what} is larger than the limit of {limit}")]
    Limit {
        /// The layer.
        layer: String,
        /// What passed it.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// An entry tries to leave the target.
    #[error("layer {layer}: entry {entry:?}: {reason}; refusing to unpack")]
    Escape {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
        /// How it escapes.
        reason: &'static str,
    },
    /// A whiteout names nothing (`.wh.`) or `.`/`..`.
    #[error("layer {layer}: entry {entry:?}: whiteout without a valid name")]
    BadWhiteout {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
    },
    /// An entry of a type we do not unpack.
    #[error("layer {layer}: entry {entry:?}: unsupported tar entry type {kind:?}")]
    Unsupported {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
        /// The type byte.
        kind: char,
    },
    /// A header field is unreadable.
    #[error("layer {layer}: entry {entry:?}: bad header field {field}")]
    Header {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
        /// The field.
        field: &'static str,
    },
    /// A filesystem call on an entry failed.
    #[error("layer {layer}: entry {entry:?}: {call}: {errno}")]
    Syscall {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
        /// The call.
        call: &'static str,
        /// The error.
        errno: Errno,
    },
    /// Writing an entry's data failed.
    #[error("layer {layer}: entry {entry:?}: writing data: {source}")]
    Write {
        /// The layer.
        layer: String,
        /// The entry path.
        entry: String,
        /// The error.
        source: io::Error,
    },
    /// The target directory could not be made or opened.
    #[error("{call} {path}: {errno}")]
    Target {
        /// The call.
        call: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
}

/// How whiteout entries are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whiteouts {
    /// Kept as overlayfs whiteouts (0:0 character devices, the opaque xattr):
    /// for layers stored apart and mounted as overlay lower directories.
    Overlay,
    /// Applied by deleting what they name: for layers unpacked on top of each other.
    Apply,
}

/// How a layer is unpacked.
#[derive(Clone, Copy, Debug)]
pub struct UnpackOptions {
    /// How whiteouts are applied.
    pub whiteouts: Whiteouts,
    /// Size limits.
    pub limits: Limits,
}

/// What an unpack did.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnpackStats {
    /// Entries written.
    pub entries: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    /// Device nodes skipped because we are not root.
    pub skipped_devices: u64,
}

/// Where unpacking reports the blob bytes it has read (a progress bar):
/// layers know nothing of how progress is shown.
pub trait ByteMeter: Sync {
    /// The bytes to read in all.
    fn set_total(&self, total: u64);
    /// `n` more bytes were read.
    fn advance(&self, n: u64);
}

/// A blob reader that reports to a [`ByteMeter`].
struct MeteredBlob<'m, R> {
    inner: R,
    meter: &'m dyn ByteMeter,
}

impl<R: Read> Read for MeteredBlob<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.advance(n as u64);
        Ok(n)
    }
}

/// One layer to unpack: its descriptor, the blob file, and a target directory
/// that must not exist yet.
#[derive(Clone, Debug)]
pub struct LayerJob {
    /// The layer descriptor (digest and size are verified; a layer media
    /// type's compression must be what the bytes are).
    pub descriptor: Descriptor,
    /// The digest its uncompressed tar must have (the image config's
    /// `rootfs.diff_ids` entry), checked while it unpacks.
    pub diff_id: Option<Digest>,
    /// The blob file.
    pub blob: PathBuf,
    /// The directory to create and fill.
    pub target: PathBuf,
}

const CHUNK: usize = 1 << 20;

/// Unpack several layers into fresh directories, in parallel. On failure
/// every target is removed and the first error is returned.
pub fn unpack_parallel(
    jobs: &[LayerJob],
    options: &UnpackOptions,
    progress: &dyn ByteMeter,
) -> Result<Vec<UnpackStats>, LayerError> {
    progress.set_total(jobs.iter().map(|j| j.descriptor.size).sum());
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(jobs.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<UnpackStats, LayerError>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        done.push((i, unpack_blob(job, options, progress)));
                    }
                    done
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<UnpackStats, LayerError>)> = handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    if results.iter().any(Result::is_err) {
        for job in jobs {
            let _ = tree::remove_path(&job.target);
        }
    }
    results.into_iter().collect()
}

/// Unpack one layer blob into a new directory `job.target`; on failure the
/// directory is removed.
pub fn unpack_blob(
    job: &LayerJob,
    options: &UnpackOptions,
    progress: &dyn ByteMeter,
) -> Result<UnpackStats, LayerError> {
    let layer = job.descriptor.digest.to_string();
    let file = File::open(&job.blob).map_err(|source| LayerError::Source {
        layer: layer.clone(),
        call: "open",
        path: job.blob.clone(),
        source,
    })?;
    let verified = VerifyingReader::new(
        MeteredBlob {
            inner: file,
            meter: progress,
        },
        job.descriptor.digest.clone(),
        job.descriptor.size,
    );
    let source = StreamSource {
        name: &layer,
        path: &job.blob,
        declared: crate::oci::Compression::from_media_type(&job.descriptor.media_type),
        diff_id: job.diff_id.as_ref(),
    };
    let result = unpack_stream(verified, &job.target, options, &source);
    if result.is_err() {
        let _ = tree::remove_path(&job.target);
    }
    result
}

/// What a layer stream is and must be.
#[derive(Clone, Copy, Debug)]
pub struct StreamSource<'a> {
    /// Names the stream in errors (the layer's digest).
    pub name: &'a str,
    /// The file it is read from, for errors.
    pub path: &'a Path,
    /// The compression its media type declares; None: whatever it is.
    pub declared: Option<crate::oci::Compression>,
    /// The digest the uncompressed tar must have.
    pub diff_id: Option<&'a Digest>,
}

/// Unpack a (possibly compressed) tar stream into `target`, which is created
/// when missing and may already hold lower layers (for [`Whiteouts::Apply`]).
/// The uncompressed stream is hashed as it is parsed and checked against
/// `source.diff_id` at its end: one pass, no second read.
pub fn unpack_stream<R: Read + Send>(
    reader: R,
    target: &Path,
    options: &UnpackOptions,
    source: &StreamSource<'_>,
) -> Result<UnpackStats, LayerError> {
    match std::fs::create_dir(target) {
        Ok(()) => {}
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && options.whiteouts == Whiteouts::Apply => {}
        Err(e) => {
            return Err(LayerError::Target {
                call: "mkdir",
                path: target.to_path_buf(),
                errno: io_errno(&e),
            })
        }
    }
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(8);
    thread::scope(|scope| {
        // Reader thread: read, verify and inflate, in chunks.
        let inflater = scope.spawn(move || inflate(reader, sender, source));
        // This thread: parse tar, write entries, hash the tar for its diff_id.
        let channel = ChannelReader::new(receiver, source.diff_id.map(Digest::algorithm));
        let written = write_entries(channel, target, options, source);
        let inflated = inflater
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A stream error explains a tar error, so it is reported first.
        inflated?;
        written
    })
}

fn io_errno(error: &io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// Read the blob to its end (so its digest is checked), decompressing into
/// chunks for the writer thread.
fn inflate<R: Read>(
    reader: R,
    sender: mpsc::SyncSender<Vec<u8>>,
    source: &StreamSource<'_>,
) -> Result<(), LayerError> {
    let (layer, path) = (source.name, source.path);
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let head = reader
        .fill_buf()
        .map_err(|e| source_error(e, layer, path))?;
    let compression = Compression::sniff(head);
    let empty = head.is_empty();
    // What the image claims is checked, not guessed around: a layer declared
    // gzip (or zstd) must be that, an empty blob included.
    if let Some(declared) = source.declared.filter(|d| *d != compression) {
        // Read the blob to its end anyway: a digest mismatch explains more.
        io::copy(&mut reader, &mut io::sink()).map_err(|e| source_error(e, layer, path))?;
        return Err(LayerError::Compression {
            layer: layer.to_string(),
            declared: declared.name(),
            found: match compression {
                _ if empty => "empty",
                Compression::None => "not compressed",
                other => other.name(),
            },
        });
    }
    let (mut decoder, format): (Box<dyn Read>, &'static str) = match compression {
        Compression::None => (Box::new(reader), "tar"),
        Compression::Gzip => (
            Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            "gzip",
        ),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(reader).map_err(|source| {
                LayerError::Decompress {
                    layer: layer.to_string(),
                    format: "zstd",
                    source,
                }
            })?;
            (Box::new(decoder), "zstd")
        }
    };
    let mut receiver_gone = false;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(stream_error(e, layer, path, format)),
            }
        }
        if filled == 0 {
            return Ok(());
        }
        chunk.truncate(filled);
        // The writer stops early on an error; keep reading so the digest of
        // the whole blob is still checked and reported.
        if !receiver_gone && sender.send(chunk).is_err() {
            receiver_gone = true;
        }
    }
}

fn source_error(error: io::Error, layer: &str, path: &Path) -> LayerError {
    match VerifyError::from_io(error) {
        Ok(source) => LayerError::Mismatch {
            layer: layer.to_string(),
            source,
        },
        Err(source) => LayerError::Source {
            layer: layer.to_string(),
            call: "read",
            path: path.to_path_buf(),
            source,
        },
    }
}

fn stream_error(error: io::Error, layer: &str, path: &Path, format: &'static str) -> LayerError {
    let from_source = VerifyError::is_in(&error) || error.raw_os_error().is_some();
    if from_source || format == "tar" {
        return source_error(error, layer, path);
    }
    LayerError::Decompress {
        layer: layer.to_string(),
        format,
        source: error,
    }
}

/// Parse the tar stream and write its entries below `target`.
fn write_entries(
    reader: ChannelReader,
    target: &Path,
    options: &UnpackOptions,
    source: &StreamSource<'_>,
) -> Result<UnpackStats, LayerError> {
    let layer = source.name;
    let (metered, meter) = MeteredReader::new(reader, options.limits);
    let mut archive = tar::Archive::new(metered);
    let mut unpacker = Unpacker::new(target, options, layer)?;
    let tar_error = |source: io::Error, meter: &limits::Meter| match meter.exceeded() {
        Some(Exceeded::LayerBytes) => LayerError::Limit {
            layer: layer.to_string(),
            what: "uncompressed size",
            limit: options.limits.max_layer_bytes,
        },
        Some(Exceeded::HeaderBytes) => LayerError::Limit {
            layer: layer.to_string(),
            what: "an entry's header",
            limit: options.limits.max_header_bytes,
        },
        None => LayerError::Tar {
            layer: layer.to_string(),
            offset: meter.total(),
            source,
        },
    };
    let mut entries = archive.entries().map_err(|e| tar_error(e, &meter))?;
    loop {
        meter.enter_headers();
        let Some(next) = entries.next() else { break };
        meter.leave_headers();
        let mut entry = next.map_err(|e| tar_error(e, &meter))?;
        if unpacker.stats.entries >= options.limits.max_entries {
            return Err(LayerError::Limit {
                layer: layer.to_string(),
                what: "the number of entries",
                limit: options.limits.max_entries,
            });
        }
        unpacker
            .apply(&mut entry)
            .map_err(|e| match (&e, meter.exceeded()) {
                (LayerError::Write { .. }, Some(_)) => {
                    tar_error(io::ErrorKind::InvalidData.into(), &meter)
                }
                _ => e,
            })?;
        crate::killpoint::reached("layer:entry-written");
        // Drain what the entry did not consume, outside the header budget.
        io::copy(&mut entry, &mut io::sink()).map_err(|e| tar_error(e, &meter))?;
    }
    unpacker.finish()?;
    let mut stats = unpacker.stats;
    // The tar ends before its stream does (padding after the end marker):
    // the rest is hashed too, then the whole is checked against its diff_id.
    let channel = archive.into_inner().into_inner();
    if let (Some(expected), Some(actual)) = (source.diff_id, channel.finish()) {
        if actual != *expected {
            return Err(LayerError::DiffId {
                layer: layer.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    stats.bytes = meter.total();
    Ok(stats)
}

/// Reads the chunks the inflate thread sends, hashing each as it arrives
/// when a diff_id is to be checked.
struct ChannelReader {
    receiver: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    offset: usize,
    hasher: Option<Hasher>,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<Vec<u8>>, hash: Option<crate::oci::Algorithm>) -> Self {
        Self {
            receiver,
            chunk: Vec::new(),
            offset: 0,
            hasher: hash.map(Hasher::new),
        }
    }

    /// Receive (and hash) what is left of the stream; the digest of all of it.
    fn finish(mut self) -> Option<Digest> {
        let mut hasher = self.hasher.take()?;
        while let Ok(chunk) = self.receiver.recv() {
            hasher.update(&chunk);
        }
        Some(hasher.finish())
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    if let Some(hasher) = &mut self.hasher {
                        hasher.update(&chunk);
                    }
                    self.chunk = chunk;
                    self.offset = 0;
                }
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.offset);
        buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

pub use tree::remove_path;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_a_stream_and_reports_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o640);
        header.set_mtime(1_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, "dir/file", &b"abc"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let options = UnpackOptions {
            whiteouts: Whiteouts::Apply,
            limits: Limits::default(),
        };
        let target = dir.path().join("t");
        let source = StreamSource {
            name: "test",
            path: Path::new("test"),
            declared: None,
            diff_id: None,
        };
        let stats = unpack_stream(&tar[..], &target, &options, &source).unwrap();
        assert_eq!(stats.entries, 1);
        assert_eq!(std::fs::read(target.join("dir/file")).unwrap(), b"abc");
        let small = UnpackOptions {
            whiteouts: Whiteouts::Apply,
            limits: Limits {
                max_entries: 0,
                ..Limits::default()
            },
        };
        let error = unpack_stream(&tar[..], &dir.path().join("u"), &small, &source).unwrap_err();
        assert!(
            matches!(
                error,
                LayerError::Limit {
                    what: "the number of entries",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn checks_the_diff_id_and_the_declared_compression() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        builder.append_data(&mut header, "f", &b"x"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let options = UnpackOptions {
            whiteouts: Whiteouts::Overlay,
            limits: Limits::default(),
        };
        let right = Digest::of_bytes(&tar);
        let wrong = Digest::of_bytes(b"other");
        let source = |diff_id, declared| StreamSource {
            name: "test",
            path: Path::new("test"),
            declared,
            diff_id,
        };
        let ok = dir.path().join("ok");
        unpack_stream(&tar[..], &ok, &options, &source(Some(&right), None)).unwrap();
        let bad = dir.path().join("bad");
        let error = unpack_stream(&tar[..], &bad, &options, &source(Some(&wrong), None));
        assert!(matches!(error, Err(LayerError::DiffId { .. })), "{error:?}");
        let gzip = Some(Compression::Gzip);
        let error = unpack_stream(
            &b""[..],
            &dir.path().join("e"),
            &options,
            &source(None, gzip),
        );
        assert!(
            matches!(error, Err(LayerError::Compression { found: "empty", .. })),
            "{error:?}"
        );
    }
}
