//! Building for wasm32: which toolchain does it, and turning the client crate into the `www/pkg` the PWA loads.

use std::path::Path;
use std::process::Command;

use crate::context::{Ctx, Failure, modified, step};
use crate::precompress::{is_precompressed, precompress};

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
                // -Zbuild-std is unstable; RUSTC_BOOTSTRAP lets Debian's stable compiler accept it. RUSTDOC too,
                // for doctests: rustup's rustdoc cannot read a std built by Debian's rustc.
                command
                    .env("RUSTC", "/usr/bin/rustc")
                    .env("RUSTDOC", "/usr/bin/rustdoc")
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

impl WasmToolchain {
    /// Whether this toolchain can compile the standard library from source (rustup's needs `rust-src`).
    pub fn has_std_source(self, ctx: &Ctx) -> bool {
        match self {
            Self::Debian => true,
            Self::Rustup => {
                let mut sysroot = ctx.command("rustc");
                sysroot.args(["--print", "sysroot"]);
                ctx.probe(&mut sysroot)
                    .is_some_and(|root| Path::new(root.trim()).join("lib/rustlib/src/rust/library/std").is_dir())
            }
        }
    }
}

/// Compiles std itself with the client, for size: panics abort at once with no message or location (the
/// formatting machinery for them is then dead code). Measured on this client: 542 KB → 505 KB raw,
/// 199 KB → 187 KB gzipped. The price is that a panic shows in the console as "unreachable", not its message.
/// These flags are unstable; `RUSTC_BOOTSTRAP` lets a stable compiler accept them (TOOLCHAIN.md does the same
/// for Debian's toolchain), and only this one build uses them.
///
/// `-Zfmt-debug=none` compiles Debug formatting out: `{:?}` prints nothing. Measured: 3.2 KB less gzipped
/// (string escaping and its Unicode tables, JS values' debug strings). So `shared` and the client quote the
/// values in their messages by hand; serde's "invalid type" messages lose the offending string, which only
/// a damaged record or a server of another version produces.
///
/// `-Zcross-crate-inline-threshold=always` lets every function be compiled into the crate that calls it, as
/// `#[inline]` ones are, instead of once in its own crate; LTO then optimizes it with its callers. Measured:
/// 61 KB less raw, 7 KB less gzipped. (`-Zinline-mir=yes`, off at opt-level "z", gained 2.5 KB gzipped
/// alone but lost 1 KB on top of it. LLVM's inline threshold at 15 instead of opt-level "z"'s own gained
/// 1.3 KB, 25 lost 0.3 KB and 40 lost 3.8 KB: a tuned number whose best value moves with the code, so not
/// taken.)
fn shrink_std(compile: &mut Command, toolchain: WasmToolchain) {
    compile.env("RUSTC_BOOTSTRAP", "1").env(
        "RUSTFLAGS",
        "-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none \
         -Zcross-crate-inline-threshold=always",
    );
    // Debian's toolchain always rebuilds std (see `cargo`).
    if toolchain == WasmToolchain::Rustup {
        compile.arg("-Zbuild-std=std,panic_abort");
    }
    // std's own switch for smaller algorithms over faster ones (sorting, mostly): 0.9 KB less gzipped.
    compile.arg("-Zbuild-std-features=optimize_for_size");
}

/// Compiles the client crate for size, binds it for the browser into `www/pkg` and shrinks it with wasm-opt.
///
/// wasm-opt runs on wasm-bindgen's output, where the function table is exported. On rustc's output, binaryen
/// 132's removal of unused module elements drops table entries that only the JS glue calls, and the app traps
/// ("unreachable") at sign-in. Debian 12's binaryen 108 had the opposite trouble after wasm-bindgen (it
/// rebinds the `__wbindgen_externrefs` table, and the app dies at start); binaryen 132 does not, and the
/// end-to-end tests, which load this module in Chromium, would show it if it did.
pub fn build_client(ctx: &Ctx, toolchain: WasmToolchain) -> Result<(), Failure> {
    step(&format!(
        "compile {CLIENT_PACKAGE} for {WASM_TARGET} (profile wasm-release)"
    ));
    let mut compile = toolchain.cargo(ctx, "build");
    compile.args(["-p", CLIENT_PACKAGE, "--profile", "wasm-release"]);
    if toolchain.has_std_source(ctx) {
        shrink_std(&mut compile, toolchain);
    } else {
        println!(
            "    rustup's rust-src component is missing: std is not rebuilt for size, and the module comes out \
             about 37 KB larger (`rustup component add rust-src` fixes it)"
        );
    }
    ctx.run(
        &mut compile,
        "compiling the wasm client",
        "read the compiler errors above; they are in client-wasm/ or shared/, not in the setup",
    )?;

    let wasm_file = format!("{CLIENT_LIB}.wasm");
    let compiled = ctx
        .wasm_target_dir()
        .join(WASM_TARGET)
        .join("wasm-release")
        .join(&wasm_file);
    let pkg = ctx.root.join("www").join("pkg");
    let bound = pkg.join(format!("{CLIENT_LIB}_bg.wasm"));
    // The release server embeds www/ and rebuilds when timestamps there change: regenerating an unchanged pkg
    // would cost a full server rebuild on every `cargo xtask run`.
    let glue = pkg.join(format!("{CLIENT_LIB}.js"));
    if modified(&bound) >= modified(&compiled) && [&bound, &glue].into_iter().all(|file| is_precompressed(file)) {
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
    // A half-written pkg must not pass for up to date on the next run.
    write_pkg(ctx, &compiled, &pkg, [&bound, &glue]).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&pkg);
    })?;
    println!("    (rustc wrote {} bytes of module)", file_size(&compiled));
    Ok(())
}

/// Binds `compiled` for the browser into `pkg`, as `bound` module and `glue`, minifies and shrinks them,
/// and writes their compressed copies.
fn write_pkg(ctx: &Ctx, compiled: &Path, pkg: &Path, [bound, glue]: [&Path; 2]) -> Result<(), Failure> {
    let mut bind = ctx.command("wasm-bindgen");
    // Function names only help a debugger; tablets download every byte.
    bind.args([
        "--target",
        "web",
        "--remove-name-section",
        "--remove-producers-section",
        "--out-dir",
    ])
    .arg(pkg)
    .arg(compiled);
    ctx.run(
        &mut bind,
        "wasm-bindgen",
        "a version mismatch between wasm-bindgen and Cargo.lock is the usual cause: run `cargo xtask install`",
    )?;
    minify_glue(ctx, glue, bound)?;
    // After the renaming, which checks that every import the glue defines is imported: wasm-opt drops
    // imports nothing calls.
    shrink(ctx, bound)?;
    step("precompress the module and its glue (brotli 11, zopfli gzip)");
    for file in [bound, glue] {
        let compressed = precompress(file)?;
        println!(
            "    {}: {} bytes, {} bytes brotli, {} bytes gzip",
            file.strip_prefix(&ctx.root).unwrap_or(file).display(),
            file_size(file),
            compressed.brotli,
            compressed.gzip
        );
    }
    Ok(())
}

/// Runs wasm-opt -Oz on the bound module, in place.
fn shrink(ctx: &Ctx, module: &Path) -> Result<(), Failure> {
    step("wasm-opt -Oz (binaryen 132, without its inlining pass)");
    let mut shrink = ctx.command(node_tool(ctx, "wasm-opt"));
    // -Oz's inlining pass inlines what LTO kept apart: on this client it cuts raw bytes but adds 14 KB gzipped,
    // and gzip is what tablets download. Without it, -Oz saves 2.3 KB gzipped over plain dead-code removal
    // (Debian 12's binaryen 108 gained nothing at any level).
    shrink
        .args(["-Oz", "--skip-pass=inlining-optimizing"])
        .arg(module)
        .arg("-o")
        .arg(module);
    ctx.run(
        &mut shrink,
        "wasm-opt",
        "wasm-opt is installed into xtask/node_modules by `cargo xtask install`; a validation error names a wasm \
         feature this wasm-opt does not know",
    )
}

/// Names wasm-bindgen gives with hashes in them, each written out twice (in the module and in the JS glue), and
/// hashes do not compress:
/// - the imports `__wbg_<what>_<16 hex digits>` and `__wbindgen_generic_<16 hex>`;
/// - the exports that call Rust closures, `wasm_bindgen_<16 hex>___convert__closures_…invoke…`, up to 334
///   characters long each.
///
/// The API's exports and the other intrinsics keep their names.
const MANGLED_NAMES: &str =
    "^((__wbg_.+|__wbindgen_generic)_[0-9a-f]{16}|wasm_bindgen_[0-9a-f]{16}___convert__closures_.+)$";

/// Minifies the JS glue with esbuild, which also gives the long [`MANGLED_NAMES`] short ones, and renames the
/// module's imports and exports to match. Measured on this client: glue 10.9 → 5.0 KB gzipped, module 3 KB smaller gzipped.
fn minify_glue(ctx: &Ctx, glue: &Path, module: &Path) -> Result<(), Failure> {
    step("esbuild: minify the JS glue and shorten the hashed names in it and in the module");
    // esbuild writes the names it chose here (`{"old": "new", ...}`): the module must be renamed alike.
    let names_file = ctx.wasm_target_dir().join("esbuild-mangled-names.json");
    let _ = std::fs::remove_file(&names_file);
    let mut minify = ctx.command(node_tool(ctx, "esbuild"));
    minify
        .arg(glue)
        .args(["--minify", "--format=esm", "--allow-overwrite", "--log-level=warning"])
        .arg(format!("--mangle-props={MANGLED_NAMES}"))
        .arg(format!("--mangle-cache={}", names_file.display()))
        .arg(format!("--outfile={}", glue.display()));
    ctx.run(
        &mut minify,
        "esbuild",
        "esbuild is installed into xtask/node_modules by `cargo xtask install`; run it again",
    )?;
    let failure = |detail: String| {
        Failure::new(
            "renaming the module's imports and exports",
            detail,
            "delete www/pkg and target/wasm, then run `cargo xtask build` again",
        )
    };
    let names: std::collections::HashMap<String, String> = std::fs::read(&names_file)
        .map_err(|error| error.to_string())
        .and_then(|json| serde_json::from_slice(&json).map_err(|error| error.to_string()))
        .map_err(|error| failure(format!("cannot read {}: {error}", names_file.display())))?;
    let mut config = walrus::ModuleConfig::new();
    // wasm-bindgen was told to drop both; re-emitting must not bring them back.
    config.generate_name_section(false).generate_producers_section(false);
    let mut wasm = config
        .parse_file(module)
        .map_err(|error| failure(format!("cannot read {}: {error}", module.display())))?;
    let mut renamed = 0;
    let imported = wasm.imports.iter_mut().map(|import| &mut import.name);
    for name in imported.chain(wasm.exports.iter_mut().map(|export| &mut export.name)) {
        if let Some(short) = names.get(name) {
            name.clone_from(short);
            renamed += 1;
        }
    }
    // Every name esbuild shortened is an import or an export: a name left over would leave the glue calling
    // nothing.
    if renamed != names.len() {
        return Err(failure(format!(
            "esbuild shortened {} names but the module imports or exports {renamed} of them",
            names.len()
        )));
    }
    wasm.emit_wasm_file(module)
        .map_err(|error| failure(format!("cannot write {}: {error}", module.display())))
}

/// A program of the build's node packages (xtask/package.json, installed by `cargo xtask install`).
fn node_tool(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    ctx.root.join("xtask").join("node_modules").join(".bin").join(name)
}

fn file_size(path: &Path) -> u64 {
    path.metadata().map(|meta| meta.len()).unwrap_or(0)
}
