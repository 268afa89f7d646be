//! Just enough of the D-Bus wire protocol to call systemd's manager: connect (systemd's
//! private socket as root, else the system bus), authenticate with EXTERNAL, send a method
//! call and read its reply. Little-endian only; replies are checked by reply serial.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What went wrong talking to systemd.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// Socket I/O failed.
    #[error("systemd D-Bus: {what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer broke the protocol.
    #[error("systemd D-Bus: {0}")]
    Protocol(&'static str),
    /// systemd answered with an error.
    #[error("systemd D-Bus: {method}: {name}: {message}")]
    Remote {
        /// The method called.
        method: String,
        /// The D-Bus error name (org.freedesktop.systemd1.NoSuchUnit, ...).
        name: String,
        /// systemd's message.
        message: String,
    },
}

impl DbusError {
    /// The D-Bus error name, when systemd answered with an error.
    pub fn remote_name(&self) -> Option<&str> {
        match self {
            DbusError::Remote { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A value in a method call's body.
pub(crate) enum Arg<'a> {
    /// `s`
    Str(&'a str),
    /// `a(sv)`: systemd unit properties.
    Properties(&'a [(&'a str, Variant)]),
    /// `a(sa(sv))`: auxiliary units (always empty here).
    NoAuxUnits,
}

/// A property value.
pub(crate) enum Variant {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
    /// `au`
    U32Array(Vec<u32>),
}

/// Encoder for the D-Bus wire format; offsets are relative to an 8-aligned start.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, n: usize) {
        let padded = self.buf.len().next_multiple_of(n);
        self.buf.resize(padded, 0);
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn signature(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    /// An array: length, padding to the element alignment, elements.
    fn array(&mut self, element_align: usize, elements: impl FnOnce(&mut Writer)) {
        self.align(4);
        let length_at = self.buf.len();
        self.u32(0);
        self.align(element_align);
        let start = self.buf.len();
        elements(self);
        let length = (self.buf.len() - start) as u32;
        self.buf[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }
    fn variant(&mut self, v: &Variant) {
        match v {
            Variant::Str(s) => {
                self.signature("s");
                self.string(s);
            }
            Variant::Bool(b) => {
                self.signature("b");
                self.u32(u32::from(*b));
            }
            Variant::U32Array(list) => {
                self.signature("au");
                self.array(4, |w| list.iter().for_each(|v| w.u32(*v)));
            }
        }
    }
    fn arg(&mut self, arg: &Arg<'_>) {
        match arg {
            Arg::Str(s) => self.string(s),
            Arg::Properties(props) => self.array(8, |w| {
                for (name, value) in props.iter() {
                    w.align(8);
                    w.string(name);
                    w.variant(value);
                }
            }),
            Arg::NoAuxUnits => self.array(8, |_| {}),
        }
    }
}

fn signature_of(args: &[Arg<'_>]) -> String {
    args.iter()
        .map(|a| match a {
            Arg::Str(_) => "s",
            Arg::Properties(_) => "a(sv)",
            Arg::NoAuxUnits => "a(sa(sv))",
        })
        .collect()
}

/// Header field codes.
const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;
const TYPE_METHOD_RETURN: u8 = 2;
const TYPE_ERROR: u8 = 3;

/// Encode a method call to org.freedesktop.systemd1.
fn method_call(serial: u32, path: &str, interface: &str, member: &str, args: &[Arg<'_>]) -> Vec<u8> {
    let mut body = Writer::default();
    for arg in args {
        body.arg(arg);
    }
    let signature = signature_of(args);
    let mut msg = Writer::default();
    msg.u8(b'l');
    msg.u8(1); // METHOD_CALL
    msg.u8(0);
    msg.u8(1); // protocol version
    msg.u32(body.buf.len() as u32);
    msg.u32(serial);
    msg.array(8, |w| {
        let field = |w: &mut Writer, code: u8, sig: &str, value: &dyn Fn(&mut Writer)| {
            w.align(8);
            w.u8(code);
            w.signature(sig);
            value(w);
        };
        field(w, FIELD_PATH, "o", &|w| w.string(path));
        field(w, FIELD_INTERFACE, "s", &|w| w.string(interface));
        field(w, FIELD_MEMBER, "s", &|w| w.string(member));
        field(w, FIELD_DESTINATION, "s", &|w| w.string("org.freedesktop.systemd1"));
        if !signature.is_empty() {
            field(w, FIELD_SIGNATURE, "g", &|w| w.signature(&signature));
        }
    });
    msg.align(8);
    msg.buf.extend_from_slice(&body.buf);
    msg.buf
}

/// A decoded reply header: its type, reply serial, error name and the body.
struct Reply {
    kind: u8,
    reply_serial: Option<u32>,
    error_name: Option<String>,
    body: Vec<u8>,
}

/// Read a little-endian u32 at `at` (after aligning `at` to 4).
fn read_u32(buf: &[u8], at: &mut usize) -> Option<u32> {
    *at = at.next_multiple_of(4);
    let v = u32::from_le_bytes(buf.get(*at..*at + 4)?.try_into().ok()?);
    *at += 4;
    Some(v)
}

fn read_string(buf: &[u8], at: &mut usize) -> Option<String> {
    let len = read_u32(buf, at)? as usize;
    let s = String::from_utf8_lossy(buf.get(*at..*at + len)?).into_owned();
    *at += len + 1;
    Some(s)
}

fn read_signature(buf: &[u8], at: &mut usize) -> Option<String> {
    let len = *buf.get(*at)? as usize;
    let s = String::from_utf8_lossy(buf.get(*at + 1..*at + 1 + len)?).into_owned();
    *at += len + 2;
    Some(s)
}

/// A connection to systemd.
pub(crate) struct Connection {
    stream: BufReader<UnixStream>,
    serial: u32,
}

impl Connection {
    /// Connect: systemd's private socket (root, no bus daemon needed), else the system bus.
    pub fn system() -> Result<Connection, DbusError> {
        let private = Path::new("/run/systemd/private");
        let (path, needs_hello) = if private.exists() {
            (private, false)
        } else {
            (Path::new("/run/dbus/system_bus_socket"), true)
        };
        let io = |what| move |source| DbusError::Io { what, source };
        let stream = UnixStream::connect(path).map_err(io("connect"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io("set timeout"))?;
        let mut conn = Connection {
            stream: BufReader::new(stream),
            serial: 0,
        };
        conn.authenticate()?;
        if needs_hello {
            conn.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?;
        }
        Ok(conn)
    }

    fn authenticate(&mut self) -> Result<(), DbusError> {
        let io = |what| move |source| DbusError::Io { what, source };
        let uid = nix::unistd::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let stream = self.stream.get_mut();
        stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes()).map_err(io("auth"))?;
        let mut line = String::new();
        self.stream.read_line(&mut line).map_err(io("auth reply"))?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Protocol("EXTERNAL authentication was refused"));
        }
        self.stream.get_mut().write_all(b"BEGIN\r\n").map_err(io("begin"))?;
        Ok(())
    }

    /// Call a method and wait for its reply; returns the reply's body.
    pub fn call(&mut self, path: &str, interface: &str, member: &str, args: &[Arg<'_>]) -> Result<Vec<u8>, DbusError> {
        self.serial += 1;
        let serial = self.serial;
        let msg = method_call(serial, path, interface, member, args);
        self.stream
            .get_mut()
            .write_all(&msg)
            .map_err(|source| DbusError::Io { what: "send", source })?;
        loop {
            let reply = self.read_message()?;
            if reply.reply_serial != Some(serial) {
                continue; // a signal or someone else's reply
            }
            return match reply.kind {
                TYPE_METHOD_RETURN => Ok(reply.body),
                TYPE_ERROR => Err(DbusError::Remote {
                    method: member.to_owned(),
                    name: reply.error_name.unwrap_or_default(),
                    message: read_string(&reply.body, &mut 0).unwrap_or_default(),
                }),
                _ => continue,
            };
        }
    }

    fn read_message(&mut self) -> Result<Reply, DbusError> {
        let io = |source| DbusError::Io { what: "receive", source };
        let mut fixed = [0u8; 16];
        self.stream.read_exact(&mut fixed).map_err(io)?;
        if fixed[0] != b'l' {
            return Err(DbusError::Protocol("big-endian messages are not supported"));
        }
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().unwrap_or_default()) as usize;
        let fields_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap_or_default()) as usize;
        let header_len = (16 + fields_len).next_multiple_of(8);
        let mut rest = vec![0u8; header_len - 16 + body_len];
        self.stream.read_exact(&mut rest).map_err(io)?;
        let mut header = fixed.to_vec();
        header.extend_from_slice(&rest[..header_len - 16]);
        let mut reply = Reply {
            kind: fixed[1],
            reply_serial: None,
            error_name: None,
            body: rest[header_len - 16..].to_vec(),
        };
        let bad = || DbusError::Protocol("malformed header field");
        let mut at = 16;
        while at < 16 + fields_len {
            at = at.next_multiple_of(8);
            let code = *header.get(at).ok_or_else(bad)?;
            at += 1;
            let sig = read_signature(&header, &mut at).ok_or_else(bad)?;
            match sig.as_str() {
                "s" | "o" => {
                    let value = read_string(&header, &mut at).ok_or_else(bad)?;
                    if code == FIELD_ERROR_NAME {
                        reply.error_name = Some(value);
                    }
                }
                "u" => {
                    let value = read_u32(&header, &mut at).ok_or_else(bad)?;
                    if code == FIELD_REPLY_SERIAL {
                        reply.reply_serial = Some(value);
                    }
                }
                "g" => {
                    read_signature(&header, &mut at).ok_or_else(bad)?;
                }
                _ => return Err(DbusError::Protocol("unexpected header field type")),
            }
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_call_is_laid_out_as_the_spec_says() {
        let props = [("Delegate", Variant::Bool(true)), ("PIDs", Variant::U32Array(vec![7]))];
        let msg = method_call(
            1,
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            &[Arg::Str("x.scope"), Arg::Str("fail"), Arg::Properties(&props), Arg::NoAuxUnits],
        );
        assert_eq!(&msg[..4], &[b'l', 1, 0, 1]);
        let body_len = u32::from_le_bytes(msg[4..8].try_into().unwrap()) as usize;
        let fields_len = u32::from_le_bytes(msg[12..16].try_into().unwrap()) as usize;
        let header_len = (16 + fields_len).next_multiple_of(8);
        assert_eq!(msg.len(), header_len + body_len);
        let body = &msg[header_len..];
        let mut at = 0;
        assert_eq!(read_string(body, &mut at).unwrap(), "x.scope");
        assert_eq!(read_string(body, &mut at).unwrap(), "fail");
        // a(sv): array length, then (align 8) the first struct's name.
        let props_len = read_u32(body, &mut at).unwrap() as usize;
        at = at.next_multiple_of(8);
        let props_end = at + props_len;
        assert_eq!(read_string(body, &mut at).unwrap(), "Delegate");
        assert_eq!(read_signature(body, &mut at).unwrap(), "b");
        assert_eq!(read_u32(body, &mut at).unwrap(), 1);
        at = at.next_multiple_of(8);
        assert_eq!(read_string(body, &mut at).unwrap(), "PIDs");
        assert_eq!(read_signature(body, &mut at).unwrap(), "au");
        assert_eq!(read_u32(body, &mut at).unwrap(), 4);
        assert_eq!(read_u32(body, &mut at).unwrap(), 7);
        assert_eq!(at, props_end);
        // The empty aux array ends the body.
        assert_eq!(read_u32(body, &mut at).unwrap(), 0);
        assert_eq!(at.next_multiple_of(8), body.len().next_multiple_of(8));
    }
}
