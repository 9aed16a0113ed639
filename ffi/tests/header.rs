//! The committed header `include/opentrail.h` must equal what the pinned cbindgen generates
//! from the sources. Run with `OT_UPDATE_HEADER=1` to rewrite it after an ABI change.

use std::path::PathBuf;

fn generate() -> String {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("read ffi/cbindgen.toml");
    let (major, minor, patch) = (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    let number = major.parse::<u32>().expect("major") * 1_000_000
        + minor.parse::<u32>().expect("minor") * 1_000
        + patch.parse::<u32>().expect("patch");
    let versions = format!(
        "\n/* Version of the library this header belongs to; see also ot_version(). */\n\
         #define OT_VERSION_MAJOR {major}\n#define OT_VERSION_MINOR {minor}\n\
         #define OT_VERSION_PATCH {patch}\n\
         /* MAJOR * 1000000 + MINOR * 1000 + PATCH */\n#define OT_VERSION_NUMBER {number}"
    );
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_crate(&crate_dir)
        .with_after_include(versions)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_is_fresh() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/opentrail.h");
    let fresh = generate();
    if std::env::var_os("OT_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "length differs".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "{} is stale ({first}); regenerate with OT_UPDATE_HEADER=1 cargo test -p opentrail-ffi --test header",
            path.display()
        );
    }
}
