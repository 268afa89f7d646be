//! `berth-shim`: the standalone keeper (not written yet).

fn main() {
    eprintln!("berth-shim: not implemented yet");
    std::process::exit(1);
}
