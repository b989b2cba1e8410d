//! kwait's version (the root Cargo.toml's), for the generated man pages.
fn main() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap_or_default();
    let version = text
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or("unknown");
    println!("cargo:rustc-env=CARGO_PKG_VERSION_KWAIT={version}");
    println!("cargo:rerun-if-changed=../Cargo.toml");
}
