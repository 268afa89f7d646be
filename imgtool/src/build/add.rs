//! What ADD does beyond COPY: local tar archives (plain, gzip, zstd) are
//! extracted into the destination with the layer unpacker's safe writes,
//! and http(s) URLs are downloaded (mode 0600, time from Last-Modified,
//! checked against `--checksum`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::copy::{DestRoot, Owner};
use super::BuildError;
use crate::layer::{self, Compression, UnpackOptions, Whiteouts};

/// Whether `path` is a tar archive ADD extracts.
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; 512];
    let Ok(n) = read_full(&mut file, &mut head) else {
        return false;
    };
    let head = &head[..n];
    match Compression::sniff(head) {
        Compression::Gzip | Compression::Zstd => true,
        Compression::None => n >= 262 && &head[257..262] == b"ustar",
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        let n = file.read(&mut buf[total..])?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Extract the archive at `path` into directory `dest` of the root.
pub fn extract(root: &DestRoot, path: &Path, dest: &str) -> Result<(), BuildError> {
    let dir = root.make_dirs(dest, None)?;
    let mut file = File::open(path).map_err(|e| BuildError::io("open", path, e))?;
    let mut head = [0u8; 8];
    let n = read_full(&mut file, &mut head).map_err(|e| BuildError::io("read", path, e))?;
    let file = File::open(path).map_err(|e| BuildError::io("open", path, e))?;
    let reader: Box<dyn Read + Send> = match Compression::sniff(&head[..n]) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file).map_err(|e| BuildError::io("zstd", path, e))?,
        ),
        Compression::None => Box::new(file),
    };
    let target = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    let options = UnpackOptions {
        whiteouts: Whiteouts::Apply,
        limits: layer::Limits::default(),
    };
    let source = layer::StreamSource {
        name: "ADD",
        path,
        declared: None,
        diff_id: None,
    };
    layer::unpack_stream(reader, &target, &options, &source)?;
    Ok(())
}

/// Download `url` to `dest`.
pub fn download(
    root: &DestRoot,
    url: &str,
    dest: &str,
    mode: u32,
    owner: Owner,
    checksum: Option<&str>,
) -> Result<(), BuildError> {
    let failed = |message: String| BuildError::Source {
        message: format!("{url}: {message}"),
    };
    let mut response = ureq::get(url).call().map_err(|e| failed(e.to_string()))?;
    let modified = response
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .map_err(|e| failed(e.to_string()))?;
    if let Some(expected) = checksum {
        let got = format!(
            "sha256:{}",
            Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        if got != expected {
            return Err(failed(format!(
                "checksum mismatch: expected {expected}, got {got}"
            )));
        }
    }
    let name = url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("__unnamed__");
    root.write_file(dest, name, &body, mode, owner, modified)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since the epoch.
fn http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(
            super::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(super::http_date("garbage"), None);
    }
}
