//! `cargo xtask test`: every test Rollcall has, in the order a failure is cheapest to find. The linters, native
//! tests, the same logic compiled to wasm32 in headless Chromium, then end-to-end tests of the real binary in a
//! real browser.

use std::path::PathBuf;

use crate::context::{Ctx, Failure};
use crate::install::{self, Browser, Purpose};
use crate::stages::Stages;
use crate::{server, wasm};

/// The crates whose tests must also pass compiled to wasm32: the merge core and the tablet engine.
const WASM_TESTED_PACKAGES: &[&str] = &["rollcall-shared", "rollcall-client"];

pub fn test(ctx: &Ctx) -> Result<(), Failure> {
    let mut stages = Stages::new(6);
    let tools = stages.run("install what is missing", || install::install(ctx, Purpose::Test))?;
    let browser = tools.browser.ok_or_else(|| {
        Failure::new(
            "install",
            "the installer found no browser",
            "install Debian's chromium and chromium-driver",
        )
    })?;
    stages.run("build the wasm client into www/pkg", || {
        wasm::build_client(ctx, tools.wasm)
    })?;
    if has_linters(ctx) {
        stages.run("lint: cargo fmt --check, cargo clippy -D warnings", || lint(ctx))?;
    } else {
        stages.skip(
            "lint",
            "rustfmt or clippy is missing from the Rust toolchain (`rustup component add rustfmt clippy`)",
        );
    }
    stages.run("native tests: cargo test --workspace", || native_tests(ctx))?;
    stages.run("wasm32 tests in headless Chromium", || {
        wasm_tests(ctx, tools.wasm, &browser)
    })?;
    let end_to_end = end_to_end_test_files(ctx)?;
    if end_to_end.is_empty() {
        stages.skip("end-to-end browser tests", "there are no tests/*.test.mjs yet");
    } else {
        stages.run("end-to-end browser tests: node --test tests/*.test.mjs", || {
            end_to_end_tests(ctx, &end_to_end, &browser)
        })?;
    }
    stages.print_summary();
    Ok(())
}

/// Whether the toolchain has rustfmt and clippy: rustup's default profile does, its minimal one does not, and
/// they cannot be fetched from where only the package registries are reachable.
fn has_linters(ctx: &Ctx) -> bool {
    ["fmt", "clippy"].into_iter().all(|tool| {
        let mut version = ctx.command(&ctx.cargo);
        version.args([tool, "--version"]);
        ctx.probe(&mut version).is_some()
    })
}

/// Formatting and clippy's warnings, as errors: a warning nobody is made to read is soon one of dozens.
fn lint(ctx: &Ctx) -> Result<(), Failure> {
    let mut format = ctx.command(&ctx.cargo);
    format.args(["fmt", "--all", "--check"]);
    ctx.run(
        &mut format,
        "cargo fmt --check",
        "run `cargo fmt --all` and commit the result",
    )?;
    let mut clippy = ctx.command(&ctx.cargo);
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    ctx.run(
        &mut clippy,
        "cargo clippy",
        "fix the warnings clippy names above (each says how); rerun with `cargo clippy --workspace --all-targets`",
    )
}

fn native_tests(ctx: &Ctx) -> Result<(), Failure> {
    let mut test = ctx.command(&ctx.cargo);
    test.args(["test", "--workspace"]);
    ctx.run(
        &mut test,
        "cargo test",
        "read the first failing test above; rerun it alone with `cargo test -p CRATE NAME`",
    )
}

fn wasm_tests(ctx: &Ctx, toolchain: wasm::WasmToolchain, browser: &Browser) -> Result<(), Failure> {
    let mut test = toolchain.cargo(ctx, "test");
    for package in WASM_TESTED_PACKAGES {
        test.args(["-p", package]);
    }
    // wasm-bindgen-test-runner (the cargo runner in .cargo/config.toml) picks its browser from these variables;
    // only Chromium is installed, so no other driver may win.
    test.env("CHROMEDRIVER", &browser.chromedriver)
        .env_remove("GECKODRIVER")
        .env_remove("SAFARIDRIVER");
    ctx.run(
        &mut test,
        "cargo test --target wasm32-unknown-unknown",
        "the compiler error or failing test is named above; a chromedriver error usually means chromium and \
         chromium-driver are different builds (`apt-get install chromium chromium-driver` updates both)",
    )
}

/// `tests/*.test.mjs`, sorted so runs are comparable. Node 20's `--test` takes no globs, so we list them.
fn end_to_end_test_files(ctx: &Ctx) -> Result<Vec<PathBuf>, Failure> {
    let dir = ctx.root.join("tests");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(Failure::new(
                "listing tests/",
                error.to_string(),
                "check the permissions of tests/",
            ));
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(".test.mjs"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn end_to_end_tests(ctx: &Ctx, files: &[PathBuf], browser: &Browser) -> Result<(), Failure> {
    let binary = server::build_server(ctx)?;
    let mut node = ctx.command("node");
    node.arg("--test").args(files);
    // The contract with tests/*.test.mjs: which server binary to start and which browser to launch.
    node.env("ROLLCALL_BIN", &binary)
        .env("ROLLCALL_CHROMIUM", &browser.chromium);
    ctx.run(
        &mut node,
        "node --test",
        "the failing test is named above; tests/artifacts may hold its screenshots",
    )
}
