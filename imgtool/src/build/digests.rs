//! Content digests of the build context's files, remembered between builds
//! (what BuildKit's content hash cache does): a file whose stat still
//! matches what it was when it was read (device, inode, size, mode, mtime
//! and ctime to the nanosecond) is not read again, so an unchanged rebuild
//! stats the context instead of reading it.
//!
//! ctime is what makes this safe: a process can put a file's mtime back
//! after changing it, but not its ctime. Timestamps tick coarsely, though: a
//! file changed again within the tick it was read in could keep every field
//! equal. So a file whose ctime is less than [`SETTLED`] before the build
//! started is hashed every time and never remembered (git's "racily clean"
//! rule, with a margin).
//!
//! The digests live in `STORE/build-cache/contexts/<sha256 of the context's
//! path>`, a binary file ending with the sha256 of what precedes it; a file
//! that does not verify is ignored (the cache starts empty). `gc` removes it
//! with the rest of the build cache.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::store::{unique_name, Store};

/// How long before the build a file must have last changed to be remembered.
pub const SETTLED: Duration = Duration::from_secs(1);

const MAGIC: &[u8] = b"berth context digests 1\n";

/// What identifies one version of a file: if any field differs, the file may have changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Stamp and content digest by context-relative path.
type Entries = HashMap<Vec<u8>, (Stamp, [u8; 32])>;

#[derive(Default)]
struct State {
    /// What the stored file held, by context-relative path.
    known: Entries,
    /// What this build looked up or hashed.
    used: Entries,
    /// A digest was computed that the stored file lacks.
    learned: bool,
    counts: Counts,
}

/// The remembered digests of one context directory.
pub struct ContextDigests {
    context: PathBuf,
    file: Option<PathBuf>,
    tmp: PathBuf,
    /// Files whose ctime is at or after this are not remembered.
    settled_before_ns: i128,
    state: Mutex<State>,
}

/// What a build's digests came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Digests taken from the cache.
    pub remembered: usize,
    /// Files read and hashed.
    pub hashed: usize,
}

impl ContextDigests {
    /// The digests remembered for `context` in `store` (none if it has none, or
    /// `remember` is false: `--no-cache` reads every file).
    pub fn load(store: &Store, context: &Path, remember: bool) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(SETTLED);
        let canonical = fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        let name = super::cache::hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
        let file = remember.then(|| store.root().join("build-cache/contexts").join(name));
        let known = file
            .as_deref()
            .and_then(|f| fs::read(f).ok())
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        ContextDigests {
            context: canonical,
            file,
            tmp: store.tmp_path().join(unique_name("context-digests")),
            settled_before_ns: started.as_nanos() as i128,
            state: Mutex::new(State {
                known,
                ..State::default()
            }),
        }
    }

    /// The sha256 of the regular file at `path` (`rel` in the context),
    /// whose lstat is `meta`: remembered if its stamp matches, else read.
    pub fn digest(&self, rel: &[u8], path: &Path, meta: &Metadata) -> io::Result<[u8; 32]> {
        let stamp = Stamp::of(meta);
        {
            let mut state = self.state.lock().expect("digests lock");
            if let Some((known, digest)) = state.known.get(rel).copied() {
                if known == stamp {
                    state.used.insert(rel.to_vec(), (stamp, digest));
                    state.counts.remembered += 1;
                    return Ok(digest);
                }
            }
        }
        let (digest, opened) = hash_file(path)?;
        let mut state = self.state.lock().expect("digests lock");
        state.counts.hashed += 1;
        // Remembered only if the file read is the one statted, and settled; a
        // change during the read moves ctime past the stamp, so the next build
        // reads it again.
        if opened == stamp && stamp.ctime_ns < self.settled_before_ns {
            state.used.insert(rel.to_vec(), (stamp, digest));
            state.learned = true;
        }
        Ok(digest)
    }

    /// Write what was learned (nothing when nothing was: an unchanged
    /// rebuild writes nothing). Entries this build did not use are kept
    /// while their file's stamp still matches. Failures are ignored: it is a cache.
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let mut state = self.state.lock().expect("digests lock");
        if !state.learned {
            return;
        }
        let state = &mut *state;
        for (rel, (stamp, digest)) in state.known.drain() {
            if state.used.contains_key(&rel) {
                continue;
            }
            let path = self.context.join(OsStr::from_bytes(&rel));
            if fs::symlink_metadata(&path).is_ok_and(|m| Stamp::of(&m) == stamp) {
                state.used.insert(rel, (stamp, digest));
            }
        }
        let bytes = encode(&state.used);
        let Some(dir) = file.parent() else { return };
        if fs::create_dir_all(dir).is_err() || fs::write(&self.tmp, bytes).is_err() {
            let _ = fs::remove_file(&self.tmp);
            return;
        }
        if fs::rename(&self.tmp, file).is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
    }

    /// How many digests were remembered and how many files were hashed so far.
    pub fn counts(&self) -> Counts {
        self.state.lock().expect("digests lock").counts
    }
}

/// The sha256 of a file's content, and the stamp of the file opened.
fn hash_file(path: &Path) -> io::Result<([u8; 32], Stamp)> {
    let mut file = File::open(path)?;
    let opened = Stamp::of(&file.metadata()?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher.finalize().into(), opened));
        }
        hasher.update(&buf[..n]);
    }
}

const ENTRY_FIXED: usize = 8 + 8 + 8 + 4 + 16 + 16 + 32;

fn encode(entries: &Entries) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + entries.len() * (ENTRY_FIXED + 40) + 32);
    out.extend_from_slice(MAGIC);
    for (rel, (stamp, digest)) in entries {
        out.extend_from_slice(&(rel.len() as u32).to_le_bytes());
        out.extend_from_slice(rel);
        out.extend_from_slice(&stamp.dev.to_le_bytes());
        out.extend_from_slice(&stamp.ino.to_le_bytes());
        out.extend_from_slice(&stamp.size.to_le_bytes());
        out.extend_from_slice(&stamp.mode.to_le_bytes());
        out.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&stamp.ctime_ns.to_le_bytes());
        out.extend_from_slice(digest);
    }
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// The entries of a stored file; `None` unless it is whole and verifies.
fn decode(bytes: &[u8]) -> Option<Entries> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut rest = body.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut entries = HashMap::new();
    while let Some(len) = take(4) {
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let rel = take(len)?.to_vec();
        let fixed = take(ENTRY_FIXED)?;
        let u64_at = |i: usize| u64::from_le_bytes(fixed[i..i + 8].try_into().expect("8 bytes"));
        let i128_at =
            |i: usize| i128::from_le_bytes(fixed[i..i + 16].try_into().expect("16 bytes"));
        let stamp = Stamp {
            dev: u64_at(0),
            ino: u64_at(8),
            size: u64_at(16),
            mode: u32::from_le_bytes(fixed[24..28].try_into().expect("4 bytes")),
            mtime_ns: i128_at(28),
            ctime_ns: i128_at(44),
        };
        let digest: [u8; 32] = fixed[60..92].try_into().expect("32 bytes");
        entries.insert(rel, (stamp, digest));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_and_context() -> (tempfile::TempDir, Store, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let context = dir.path().join("ctx");
        fs::create_dir(&context).unwrap();
        (dir, store, context)
    }

    /// Digests as a build takes them, with every file counted as settled.
    fn settled(store: &Store, context: &Path) -> ContextDigests {
        let mut digests = ContextDigests::load(store, context, true);
        digests.settled_before_ns = i128::MAX;
        digests
    }

    /// What a second build sees of a file the first one could not take from the cache.
    const READ_AGAIN: Counts = Counts {
        remembered: 0,
        hashed: 1,
    };

    /// A build that reads `name` and saves what it learned.
    fn first_build(digests: ContextDigests, context: &Path, name: &str) -> ContextDigests {
        digest_of(&digests, context, name);
        digests.save();
        digests
    }

    fn digest_of(digests: &ContextDigests, context: &Path, name: &str) -> [u8; 32] {
        let path = context.join(name);
        let meta = fs::symlink_metadata(&path).unwrap();
        digests.digest(name.as_bytes(), &path, &meta).unwrap()
    }

    #[test]
    fn an_unchanged_file_is_not_read_again() {
        let (_dir, store, context) = store_and_context();
        fs::write(context.join("a"), "content").unwrap();
        let first = first_build(settled(&store, &context), &context, "a");
        let digest = digest_of(&first, &context, "a");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"content")));
        let second = settled(&store, &context);
        assert_eq!(digest_of(&second, &context, "a"), digest);
        assert_eq!(
            second.counts(),
            Counts {
                remembered: 1,
                hashed: 0
            }
        );
    }

    #[test]
    fn a_rewrite_with_the_same_size_and_mtime_is_read_again() {
        let (_dir, store, context) = store_and_context();
        let path = context.join("a");
        fs::write(&path, "one").unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        first_build(settled(&store, &context), &context, "a");
        // Past the coarse timestamp tick, so the rewrite gets a new ctime.
        std::thread::sleep(Duration::from_millis(30));
        fs::write(&path, "two").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let second = settled(&store, &context);
        let digest = digest_of(&second, &context, "a");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"two")));
        assert_eq!(second.counts(), READ_AGAIN);
    }

    #[test]
    fn a_file_changed_just_before_the_build_is_not_remembered() {
        let (_dir, store, context) = store_and_context();
        fs::write(context.join("a"), "fresh").unwrap();
        first_build(ContextDigests::load(&store, &context, true), &context, "a");
        let second = ContextDigests::load(&store, &context, true);
        digest_of(&second, &context, "a");
        assert_eq!(second.counts(), READ_AGAIN);
    }

    #[test]
    fn a_damaged_record_is_ignored() {
        let (_dir, store, context) = store_and_context();
        fs::write(context.join("a"), "content").unwrap();
        let first = first_build(settled(&store, &context), &context, "a");
        let file = first.file.clone().unwrap();
        let mut bytes = fs::read(&file).unwrap();
        let last_digest_byte = bytes.len() - 33;
        bytes[last_digest_byte] ^= 1;
        fs::write(&file, bytes).unwrap();
        let second = settled(&store, &context);
        assert_eq!(
            digest_of(&second, &context, "a"),
            <[u8; 32]>::from(Sha256::digest(b"content"))
        );
        assert_eq!(second.counts(), READ_AGAIN);
    }

    #[test]
    fn no_cache_remembers_nothing() {
        let (_dir, store, context) = store_and_context();
        fs::write(context.join("a"), "content").unwrap();
        let mut no_cache = ContextDigests::load(&store, &context, false);
        no_cache.settled_before_ns = i128::MAX;
        first_build(no_cache, &context, "a");
        assert!(!store.root().join("build-cache/contexts").exists());
    }
}
