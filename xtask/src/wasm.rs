//! Building for wasm32: which toolchain does it, and turning the client crate into the `www/pkg` the PWA loads.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use crate::context::{Ctx, Failure, step};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
const CLIENT_PACKAGE: &str = "rollcall-client";
/// The cdylib file name cargo gives `rollcall-client`, and the stem wasm-bindgen derives its outputs from.
const CLIENT_LIB: &str = "rollcall_client";

/// The toolchain that compiles wasm32 code. Rustup's is normal; Debian's is the fallback for machines where
/// rustup cannot download the wasm32 standard library (see TOOLCHAIN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmToolchain {
    /// The rustup toolchain that runs this xtask, with its wasm32 target added.
    Rustup,
    /// Debian's `rustc-web`/`cargo-web`: no prebuilt wasm32 std, so std is compiled from `rust-web-src`.
    Debian,
}

impl WasmToolchain {
    /// `cargo <subcommand> --target wasm32-unknown-unknown` with this toolchain, in the separate wasm target dir.
    pub fn cargo(self, ctx: &Ctx, subcommand: &str) -> Command {
        let mut command = match self {
            Self::Rustup => ctx.command(&ctx.cargo),
            Self::Debian => {
                let mut command = ctx.command("/usr/bin/cargo");
                // -Zbuild-std is unstable; RUSTC_BOOTSTRAP lets Debian's stable compiler accept it.
                command
                    .env("RUSTC", "/usr/bin/rustc")
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env_remove("RUSTUP_TOOLCHAIN");
                command
            }
        };
        command.arg(subcommand).args(["--target", WASM_TARGET]);
        if self == Self::Debian {
            command.arg("-Zbuild-std=std,panic_abort");
        }
        command.env("CARGO_TARGET_DIR", ctx.wasm_target_dir());
        command
    }
}

/// Compiles the client crate for size, binds it for the browser into `www/pkg`, and shrinks it with wasm-opt.
pub fn build_client(ctx: &Ctx, toolchain: WasmToolchain) -> Result<(), Failure> {
    step(&format!(
        "compile {CLIENT_PACKAGE} for {WASM_TARGET} (profile wasm-release)"
    ));
    let mut compile = toolchain.cargo(ctx, "build");
    compile.args(["-p", CLIENT_PACKAGE, "--profile", "wasm-release"]);
    ctx.run(
        &mut compile,
        "compiling the wasm client",
        "read the compiler errors above; they are in client-wasm/ or shared/, not in the setup",
    )?;

    let compiled = ctx
        .wasm_target_dir()
        .join(WASM_TARGET)
        .join("wasm-release")
        .join(format!("{CLIENT_LIB}.wasm"));
    let pkg = ctx.root.join("www").join("pkg");
    let bound = pkg.join(format!("{CLIENT_LIB}_bg.wasm"));
    // The release server embeds www/ and rebuilds when timestamps there change: regenerating an unchanged pkg
    // would cost a full server rebuild on every `cargo xtask run`.
    let glue = pkg.join(format!("{CLIENT_LIB}.js"));
    if glue.exists() && modified(&bound).is_some() && modified(&bound) >= modified(&compiled) {
        println!("==> www/pkg is up to date with the compiled client");
        return Ok(());
    }
    step("wasm-bindgen: generate the JS bindings into www/pkg");
    // Old outputs (e.g. snippets of a renamed import) must not linger and be embedded into the server.
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).map_err(|error| {
            Failure::new(
                "clearing www/pkg",
                error.to_string(),
                "delete www/pkg by hand and rerun",
            )
        })?;
    }
    let mut bind = ctx.command("wasm-bindgen");
    bind.args(["--target", "web", "--out-dir"]).arg(&pkg).arg(&compiled);
    ctx.run(
        &mut bind,
        "wasm-bindgen",
        "a version mismatch between wasm-bindgen and Cargo.lock is the usual cause: run `cargo xtask install`",
    )?;

    step("wasm-opt -Oz: shrink the module tablets download");
    let before = file_size(&bound);
    let mut shrink = ctx.command("wasm-opt");
    shrink.arg("-Oz").arg(&bound).arg("-o").arg(&bound);
    ctx.run(
        &mut shrink,
        "wasm-opt",
        "wasm-opt comes from Debian's binaryen package: run `cargo xtask install`; a validation error names a wasm \
         feature this wasm-opt does not know",
    )
    // An unshrunk module must not pass for up to date on the next run.
    .inspect_err(|_| {
        let _ = std::fs::remove_file(&bound);
    })?;
    println!(
        "    www/pkg/{CLIENT_LIB}_bg.wasm: {before} bytes -> {} bytes",
        file_size(&bound)
    );
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|meta| meta.modified()).ok()
}

fn file_size(path: &Path) -> u64 {
    path.metadata().map(|meta| meta.len()).unwrap_or(0)
}
