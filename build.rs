//! Embeds every `runbooks/*.rhai` and `stdlib/*.rhai` into the binary, so an
//! installed groundup carries its runbooks (`groundup run network`).
use std::fmt::Write as _;
use std::path::Path;

fn list(manifest_dir: &Path, dir: &str) -> String {
    let root = manifest_dir.join(dir);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.retain(|p| p.extension().is_some_and(|e| e == "rhai"));
    assert!(
        !entries.is_empty(),
        "no .rhai files in {}: nothing to embed",
        root.display()
    );
    entries.sort();
    let mut out = String::from("&[\n");
    for p in entries {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let _ = writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            p.display().to_string()
        );
    }
    out.push(']');
    out
}

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    // Read at run time, not with env!(): a build-script binary cached in a
    // shared target directory may have been compiled in another checkout.
    let manifest_dir =
        std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let manifest_dir = Path::new(&manifest_dir);
    let code = format!(
        "/// Embedded runbooks: (name, source).\npub const RUNBOOKS: &[(&str, &str)] = {};\n/// Embedded stdlib modules: (name, source).\npub const STDLIB: &[(&str, &str)] = {};\n",
        list(manifest_dir, "runbooks"),
        list(manifest_dir, "stdlib")
    );
    std::fs::write(Path::new(&out_dir).join("embedded.rs"), code).expect("write embedded.rs");
}
