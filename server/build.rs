//! Compresses the web pages' files at build time, so the server sends them gzip'ed
//! without spending CPU per request, and names each with an `ETag` (a hash of its bytes),
//! so a phone that reloads gets `304 Not Modified` instead of the files again.
//!
//! For every file under `assets/`, writes `$OUT_DIR/assets/<path>.gz` (gzip, best
//! compression) and `$OUT_DIR/assets/<path>.etag` (a quoted 64-bit FNV-1a hash of the
//! uncompressed bytes: a cache validator, not a security measure). `web::assets` embeds
//! both next to the file itself. Cargo reruns this whenever anything under `assets/`
//! changes, so the compressed copies never go stale.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

fn main() {
    println!("cargo:rerun-if-changed=assets");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out).join("assets");
    compress_dir(Path::new("assets"), &out);
}

/// Compresses every file under `dir` into the same relative place under `out`.
fn compress_dir(dir: &Path, out: &Path) {
    std::fs::create_dir_all(out).expect("create OUT_DIR/assets");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read assets/")
        .map(|e| e.expect("read assets/").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().expect("a named entry");
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            compress_dir(&path, &out.join(name));
            continue;
        }
        let body = std::fs::read(&path).expect("read an asset");
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&body).expect("gzip in memory");
        let gz = gz.finish().expect("gzip in memory");
        let file = |ext: &str| out.join(format!("{}.{ext}", name.to_string_lossy()));
        std::fs::write(file("gz"), gz).expect("write a compressed asset");
        std::fs::write(file("etag"), format!("\"{:016x}\"", fnv1a(&body))).expect("write an etag");
    }
}

/// 64-bit FNV-1a: small, dependency-free, and different for any edit in practice.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
