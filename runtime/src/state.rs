//! The state directory: one directory per container under `--root`, holding state.json
//! and the exec fifo that holds a created container's init until start.
//!
//! state.json is rewritten in place, not through a temporary file and a rename: a create
//! writes it four times, and on a disk filesystem (a /run that is not tmpfs) every rename
//! allocated an inode and freed another, which cost more than the rest of the record's work.
//! A record of at most one page is written by one pwrite at offset 0, which a kill cannot
//! split (the kernel copies a page or nothing); a shorter record is padded with spaces,
//! which JSON ignores. Writers hold an exclusive flock, readers a shared one, so no reader
//! sees a record half-written. A larger record (many annotations) still goes through a
//! temporary file and a rename.
//!
//! state.json is first written as an intent record, before `create` makes anything else: the
//! bundle, the cgroup directories it is about to make, and who is creating it; the init's pid
//! is added as soon as it exists. So a create killed at any point leaves a container that
//! `list` shows, `state` answers for and `delete --force` removes. A directory whose record
//! was never written (killed between the mkdir and the first write) is such a container too,
//! with nothing else made.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A failed state-directory operation, naming the container or path.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id has characters that could name a path outside the root, or is empty.
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.' only")]
    InvalidId(String),
    /// No container with this id. Managers look for "does not exist" in this message.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with this id exists already.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// A file of the state directory could not be read or written.
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// state.json is not what berth wrote.
    #[error("{path}: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io { op, path: path.to_owned(), source }
}

/// Accept the ids runc accepts: `[A-Za-z0-9_+.-]+`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_owned()))
    }
}

/// What berth records about a container; `berth state` prints the public part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The runtime-spec version of the bundle.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time, UTC, nanoseconds.
    pub created: String,
    /// Who created it; runc leaves this empty unless rootless.
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Start time of the init (field 22 of /proc/PID/stat), to tell it from a reused pid.
    pub init_start_time: u64,
    /// The container's cgroup, as the cgroup driver saved it.
    #[serde(default)]
    pub cgroup: Option<berth_cgroups::CgroupState>,
    /// The resources the cgroup was given, merged with every `update` since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// config.json `hooks`, for the ones `start` and `delete` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The `create` still making this container; None once it has returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating: Option<Creator>,
    /// The container shares the caller's mount namespace, so its mounts were made on the
    /// host, under the rootfs: `delete` detaches them (runc leaves them behind).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mounts_on_host: bool,
}

/// The process running `create`, told from a later one with the same pid by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub pid: i32,
    pub start_time: u64,
}

impl Creator {
    /// This process.
    pub fn current() -> Creator {
        let pid = std::process::id() as i32;
        Creator { pid, start_time: process_start_time(pid).map_or(0, |(start, _)| start) }
    }

    /// Is it still at work?
    pub fn alive(&self) -> bool {
        matches!(process_start_time(self.pid), Some((start, state)) if start == self.start_time && state != 'Z' && state != 'X')
    }
}

/// Where a container stands, as `berth state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `create` is still at work (crun's and runc's word for it).
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The word runc prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A container's directory under the state root.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

const STATE_FILE: &str = "state.json";
const EXEC_FIFO: &str = "exec.fifo";
/// The largest record rewritten in place: one page, which one write copies whole or not at all.
const IN_PLACE_MAX: usize = 4096;

impl StateDir {
    /// Claim `id` for a new container: make its directory and write `intent` (the record of
    /// what the create is about to make) as its state.json. Fails if the id is taken.
    pub fn claim(root: &Path, id: &str, intent: &State) -> Result<StateDir, StateError> {
        validate_id(id)?;
        fs::create_dir_all(root).map_err(io_error("mkdir", root))?;
        let path = root.join(id);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StateError::Exists(id.to_owned())),
            Err(e) => return Err(io_error("mkdir", &path)(e)),
        }
        let dir = StateDir { path };
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o711)).map_err(io_error("chmod", &dir.path))?;
        dir.save(intent)?;
        Ok(dir)
    }

    /// The directory of an existing container (recorded or only claimed).
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(StateError::NotFound(id.to_owned()));
        }
        Ok(StateDir { path })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fifo the created container's init blocks on until `start`.
    pub fn exec_fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Make the exec fifo; writable by everyone, so an init that changed user can still open it.
    pub fn make_exec_fifo(&self) -> Result<PathBuf, StateError> {
        let fifo = self.exec_fifo();
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .map_err(|e| io_error("mkfifo", &fifo)(e.into()))?;
        // mkfifo applies the umask; set the mode we asked for.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fifo, fs::Permissions::from_mode(0o622)).map_err(io_error("chmod", &fifo))?;
        Ok(fifo)
    }

    /// Write state.json so that a reader or a kill sees the old record or the new one, never
    /// a mix (see the module comment).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let dest = self.path.join(STATE_FILE);
        let mut json = serde_json::to_vec(state).map_err(|source| StateError::Corrupt { path: dest.clone(), source })?;
        if json.len() > IN_PLACE_MAX {
            return self.replace(&json);
        }
        let file = fs::OpenOptions::new().write(true).create(true).truncate(false).open(&dest).map_err(io_error("open", &dest))?;
        file.lock().map_err(io_error("flock", &dest))?;
        let previous = file.metadata().map_err(io_error("fstat", &dest))?.len() as usize;
        if previous > IN_PLACE_MAX {
            // An earlier record was too large to rewrite in place; replace this one too.
            return self.replace(&json);
        }
        json.resize(json.len().max(previous), b' ');
        use std::os::unix::fs::FileExt;
        let written = file.write_at(&json, 0).map_err(io_error("write", &dest))?;
        if written != json.len() {
            return Err(io_error("write", &dest)(io::Error::from(io::ErrorKind::WriteZero)));
        }
        Ok(())
    }

    /// Write a record through a temporary file and a rename.
    fn replace(&self, json: &[u8]) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let mut file = fs::File::create(&tmp).map_err(io_error("create", &tmp))?;
        file.write_all(json).map_err(io_error("write", &tmp))?;
        let dest = self.path.join(STATE_FILE);
        fs::rename(&tmp, &dest).map_err(io_error("rename", &dest))
    }

    /// Read state.json.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path.join(STATE_FILE);
        let id = || self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.path.is_dir() {
                    return Ok(State::claimed_only(id()));
                }
                return Err(StateError::NotFound(id()));
            }
            Err(e) => return Err(io_error("open", &path)(e)),
        };
        file.lock_shared().map_err(io_error("flock", &path))?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes).map_err(io_error("read", &path))?;
        // A create killed between making the file and its first write left it empty.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(State::claimed_only(id()));
        }
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Remove the directory and everything in it.
    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &self.path)(e)),
        }
    }
}

/// Ids of every container under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read", root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Start time (clock ticks since boot) and state letter of `pid`, or None if it is gone.
pub fn process_start_time(pid: i32) -> Option<(u64, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

impl State {
    /// A container whose create was killed after claiming the id and before writing anything
    /// (nothing else had been made): known by its id alone.
    fn claimed_only(id: String) -> State {
        State {
            oci_version: String::new(),
            id,
            pid: 0,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            created: String::new(),
            owner: String::new(),
            annotations: HashMap::new(),
            init_start_time: 0,
            cgroup: None,
            resources: None,
            hooks: None,
            creating: None,
            mounts_on_host: false,
        }
    }

    /// Is the recorded init still the same live process?
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match process_start_time(self.pid) {
            Some((start, state)) => start == self.init_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    /// The state a hook reads on stdin: `status` as the hook's stage sees it.
    pub fn hook_json(&self, pid: i32, status: &str) -> String {
        let mut public = self.public(Status::Running);
        public.pid = pid;
        public.status = status;
        serde_json::to_string(&public).expect("plain data serializes")
    }

    /// What `berth state` prints: the OCI state plus runc's extra fields, in runc's order.
    pub fn public(&self, status: Status) -> PublicState<'_> {
        PublicState {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: sorted(&self.annotations),
        }
    }
}

/// The public view of a container's state, serialized field by field in runc's order.
#[derive(Debug, Serialize)]
pub struct PublicState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'a str, &'a str>,
}

/// The current time as RFC 3339 with nanoseconds, UTC (what runc writes in "created").
pub fn rfc3339_now() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `time` as RFC 3339 in UTC with nine fraction digits: `2026-12-06T00:17:09.669794202Z`
/// (runc's "created", and the CRI log format's time stamps).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let now = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Annotations as a sorted map, for stable output.
pub fn sorted(annotations: &HashMap<String, String>) -> BTreeMap<&str, &str> {
    annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_the_root_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "my-container_1.2+x", "..."] {
            assert!(validate_id(good).is_ok(), "{good:?} refused");
        }
    }

    fn record(id: &str, annotations: usize, value_len: usize) -> State {
        let mut state = State::claimed_only(id.to_owned());
        state.annotations = (0..annotations).map(|i| (format!("k{i}"), "v".repeat(value_len))).collect();
        state
    }

    fn scratch_root(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("berth-state-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_shorter_record_rewritten_in_place_reads_back_whole() {
        let root = scratch_root("shorter");
        let dir = StateDir::claim(&root, "c1", &record("c1", 8, 100)).unwrap();
        let long = fs::metadata(dir.path().join(STATE_FILE)).unwrap().len();
        dir.save(&record("c1", 1, 1)).unwrap();
        // The file keeps its length (padded with spaces), and the record is the new one.
        assert_eq!(fs::metadata(dir.path().join(STATE_FILE)).unwrap().len(), long);
        assert_eq!(dir.load().unwrap().annotations.len(), 1);
        dir.remove().unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn records_larger_than_a_page_are_replaced_and_read_back() {
        let root = scratch_root("large");
        let dir = StateDir::claim(&root, "c2", &record("c2", 1, 1)).unwrap();
        dir.save(&record("c2", 40, 200)).unwrap();
        assert!(fs::metadata(dir.path().join(STATE_FILE)).unwrap().len() as usize > IN_PLACE_MAX);
        assert_eq!(dir.load().unwrap().annotations.len(), 40);
        // Back to a small record: still read back whole.
        dir.save(&record("c2", 2, 1)).unwrap();
        assert_eq!(dir.load().unwrap().annotations.len(), 2);
        dir.remove().unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn an_empty_record_is_a_claimed_container() {
        let root = scratch_root("empty");
        let dir = StateDir::claim(&root, "c3", &record("c3", 0, 0)).unwrap();
        fs::write(dir.path().join(STATE_FILE), b"").unwrap();
        let state = dir.load().unwrap();
        assert_eq!((state.id.as_str(), state.pid), ("c3", 0));
        dir.remove().unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
    }
}
