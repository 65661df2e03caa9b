//! Compressing the web app's big files once, at build time, as hard as the formats allow.
//!
//! The server would otherwise compress every download on the fly, at the fast, low levels a request can
//! afford. Tablets on poor Wi-Fi download the module on every release, so the build spends the seconds
//! instead: brotli at its top quality and gzip written by zopfli (plain gzip readers, ~5% smaller than
//! `gzip -9`). The server sends `<file>.br` or `<file>.gz` to a browser that accepts it (`server/src/api/web_app.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::context::Failure;

/// brotli's best quality and its largest standard window (4 MiB): the module fits whole.
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW_BITS: u32 = 22;

/// The sizes of what was written.
pub struct Compressed {
    pub brotli: u64,
    pub gzip: u64,
}

/// Writes `<file>.br` and `<file>.gz` beside `file`.
pub fn precompress(file: &Path) -> Result<Compressed, Failure> {
    let failure = |detail: String| {
        Failure::new(
            "precompressing the web app",
            detail,
            "check disk space, then run `cargo xtask build` again",
        )
    };
    let data = std::fs::read(file).map_err(|error| failure(format!("cannot read {}: {error}", file.display())))?;

    let brotli_path = with_suffix(file, "br");
    let mut brotli_bytes = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli_bytes, 4096, BROTLI_QUALITY, BROTLI_WINDOW_BITS);
        writer
            .write_all(&data)
            .map_err(|error| failure(format!("brotli failed on {}: {error}", file.display())))?;
    }

    let gzip_path = with_suffix(file, "gz");
    let mut gzip_bytes = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        &data[..],
        &mut gzip_bytes,
    )
    .map_err(|error| failure(format!("zopfli failed on {}: {error}", file.display())))?;

    for (path, bytes) in [(&brotli_path, &brotli_bytes), (&gzip_path, &gzip_bytes)] {
        std::fs::write(path, bytes).map_err(|error| failure(format!("cannot write {}: {error}", path.display())))?;
    }
    Ok(Compressed {
        brotli: brotli_bytes.len() as u64,
        gzip: gzip_bytes.len() as u64,
    })
}

/// Whether both copies of `file` were written after it (a build stopped halfway leaves them stale).
pub fn is_precompressed(file: &Path) -> bool {
    let written = crate::context::modified(file);
    written.is_some()
        && ["br", "gz"]
            .iter()
            .all(|suffix| crate::context::modified(&with_suffix(file, suffix)) >= written)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test: a panic is how it fails")]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_copies_are_written_and_the_brotli_one_decodes_to_the_original() {
        let dir = std::env::temp_dir().join(format!("rollcall-precompress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("module.wasm");
        let original: Vec<u8> = (0..5_000u32).flat_map(|n| (n % 251).to_le_bytes()).collect();
        std::fs::write(&file, &original).unwrap();

        assert!(!is_precompressed(&file));
        let sizes = precompress(&file).unwrap();
        assert!(is_precompressed(&file));

        let mut from_brotli = Vec::new();
        brotli::Decompressor::new(std::fs::File::open(dir.join("module.wasm.br")).unwrap(), 4096)
            .read_to_end(&mut from_brotli)
            .unwrap();
        assert_eq!(from_brotli, original);
        let gzip = std::fs::read(dir.join("module.wasm.gz")).unwrap();
        assert_eq!(gzip.len() as u64, sizes.gzip);
        assert_eq!(&gzip[..2], &[0x1f, 0x8b], "a gzip member, readable by any browser");
        assert!(sizes.brotli < original.len() as u64 && sizes.gzip < original.len() as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
