//! Guards against decompression bombs and oversized headers: a reader that
//! counts the uncompressed tar stream and fails past the limits.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Limits applied while a layer is unpacked.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest uncompressed tar stream of one layer.
    pub max_layer_bytes: u64,
    /// Most entries in one layer.
    pub max_entries: u64,
    /// Largest run of header data (ustar, PAX and GNU long-name records) before one entry.
    pub max_header_bytes: u64,
    /// Longest entry path or link target.
    pub max_path_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_layer_bytes: 64 << 30,
            max_entries: 4 << 20,
            max_header_bytes: 1 << 20,
            max_path_bytes: 4096,
        }
    }
}

/// Which limit a stream passed (the reader reports it as an io error the tar
/// parser passes on; the meter remembers it so the caller reports it typed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// The uncompressed size.
    LayerBytes,
    /// The header run before one entry.
    HeaderBytes,
}

#[derive(Default)]
struct MeterState {
    total: Cell<u64>,
    header_start: Cell<Option<u64>>,
    exceeded: Cell<Option<Exceeded>>,
}

/// Shared view of a [`MeteredReader`]'s counters.
#[derive(Clone, Default)]
pub struct Meter {
    state: Rc<MeterState>,
}

impl Meter {
    /// The tar parser is about to read headers: start counting them.
    pub fn enter_headers(&self) {
        self.state.header_start.set(Some(self.state.total.get()));
    }

    /// An entry's data follows: stop counting headers.
    pub fn leave_headers(&self) {
        self.state.header_start.set(None);
    }

    /// The limit passed, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.state.exceeded.get()
    }

    /// Uncompressed bytes read so far.
    pub fn total(&self) -> u64 {
        self.state.total.get()
    }
}

/// Counts bytes and fails past [`Limits`].
pub struct MeteredReader<R> {
    inner: R,
    meter: Meter,
    limits: Limits,
}

impl<R: Read> MeteredReader<R> {
    /// Meter `inner`.
    pub fn new(inner: R, limits: Limits) -> (Self, Meter) {
        let meter = Meter::default();
        (
            Self {
                inner,
                meter: meter.clone(),
                limits,
            },
            meter,
        )
    }

    /// The metered reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn fail(&self, which: Exceeded) -> io::Error {
        self.meter.state.exceeded.set(Some(which));
        io::Error::new(io::ErrorKind::InvalidData, "layer limit exceeded")
    }
}

impl<R: Read> Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let state = &self.meter.state;
        let total = state.total.get() + n as u64;
        state.total.set(total);
        if total > self.limits.max_layer_bytes {
            return Err(self.fail(Exceeded::LayerBytes));
        }
        // 512 bytes of slack cover the padding of the entry before.
        if state
            .header_start
            .get()
            .is_some_and(|start| total - start > self.limits.max_header_bytes + 512)
        {
            return Err(self.fail(Exceeded::HeaderBytes));
        }
        Ok(n)
    }
}
