//! Measures push and pull throughput of one blob against a registry.
//!
//! `cargo run --release -p berth-registry --example transfer -- HOST:PORT/REPO SIZE_MIB`
//! pushes SIZE_MIB of pseudo-random bytes as a blob, pulls it back to a
//! discarding sink, and prints MiB/s for both directions.

use std::io::Write;
use std::time::Instant;

use berth_registry::{Client, ClientOptions, Digest, NoProgress, Reference};

/// Counts bytes and drops them.
struct Discard(u64);

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, reference, mib] = args.as_slice() else {
        return Err("usage: transfer HOST:PORT/REPO SIZE_MIB".into());
    };
    let reference = Reference::parse(reference)?;
    let size = mib.parse::<u64>()? * 1024 * 1024;

    // xorshift bytes: incompressible enough, no dependency.
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ std::process::id() as u64;
    let bytes: Vec<u8> = (0..size / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let start = Instant::now();
    let digest = Digest::of_bytes(&bytes);
    let hash = start.elapsed().as_secs_f64();
    let client = Client::new(ClientOptions::default());
    let mib = size as f64 / (1024.0 * 1024.0);

    let start = Instant::now();
    client.push_blob(&reference, &digest, size, bytes.as_slice(), &NoProgress)?;
    let push = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut sink = Discard(0);
    client.get_blob(&reference, &digest, size, &mut sink, &NoProgress)?;
    let pull = start.elapsed().as_secs_f64();

    println!("blob {digest} ({mib:.0} MiB)");
    println!("sha256 alone: {hash:.2} s, {:.0} MiB/s", mib / hash);
    println!("push: {push:.2} s, {:.0} MiB/s", mib / push);
    println!("pull: {pull:.2} s, {:.0} MiB/s", mib / pull);
    Ok(())
}
