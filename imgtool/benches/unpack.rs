//! Layer unpack throughput on a generated layer (many small files, a few
//! large ones, gzip), into a fresh directory each time: the library path
//! that `berth-img unpack` and `import` take, without process start-up.
//! The whole-image comparison with umoci and gzip|tar is
//! benches/imgtool-compare.sh at the repository root.

use std::io::Write;

use berth_img::layer::{unpack_stream, Limits, StreamSource, UnpackOptions, Whiteouts};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn generated_layer() -> (Vec<u8>, u64) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut raw = 0u64;
    for dir in 0..50 {
        for file in 0..100 {
            let data: Vec<u8> = (0..(file * 97 % 8192))
                .map(|i| (i * 31 + dir) as u8)
                .collect();
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(1_600_000_000);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("d{dir}/f{file}"), data.as_slice())
                .unwrap();
            raw += data.len() as u64;
        }
    }
    let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 253) as u8).collect();
    let mut header = tar::Header::new_gnu();
    header.set_size(big.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder
        .append_data(&mut header, "big", big.as_slice())
        .unwrap();
    raw += big.len() as u64;
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), raw)
}

fn unpack(c: &mut Criterion) {
    let (layer, raw) = generated_layer();
    // tmpfs (/dev/shm): on a disk the numbers measure writeback, not the unpacker.
    let scratch = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let options = UnpackOptions {
        whiteouts: Whiteouts::Overlay,
        limits: Limits::default(),
    };
    let mut group = c.benchmark_group("layer");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(raw));
    let mut round = 0;
    group.bench_function("unpack 5000 files + 32 MiB, gzip", |b| {
        b.iter(|| {
            round += 1;
            let target = scratch.path().join(round.to_string());
            let source = StreamSource {
                name: "bench",
                path: std::path::Path::new("bench"),
                declared: None,
                diff_id: None,
            };
            unpack_stream(layer.as_slice(), &target, &options, &source).unwrap();
            std::fs::remove_dir_all(&target).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, unpack);
criterion_main!(benches);
