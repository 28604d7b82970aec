//! Writes `include/capvault.h` from this crate's `extern "C"` items with cbindgen; CI checks
//! that the checked-in header is what this writes (`git diff --exit-code include/capvault.h`).

fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let header = std::path::Path::new(&crate_dir).join("../include/capvault.h");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(std::path::Path::new(&crate_dir).join("cbindgen.toml"))
        .expect("capi/cbindgen.toml reads");
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(header);
        }
        // A source that does not parse fails in rustc with a better message.
        Err(error) => println!("cargo:warning=cbindgen: {error}"),
    }
}
