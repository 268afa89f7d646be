//! berth's entry point re-executes the cloning verbs from a sealed view before glibc starts
//! (see src/early_seal.rs); the linker has to be told to start there.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && arch == "x86_64" {
        println!("cargo::rustc-link-arg-bin=berth=-Wl,--entry=berth_entry");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
