//! The installer: makes a fresh Debian machine with only rustup able to build, run and test Rollcall.
//! Every step checks first and installs only what is missing, so a second run installs nothing and is quick.

use std::path::PathBuf;
use std::time::Instant;

use crate::context::{Ctx, Failure, human_duration, modified, step};
use crate::wasm::{WASM_TARGET, WasmToolchain};

/// What the tools are for: running the server needs fewer of them than running every test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Run,
    Test,
}

/// What the installer found or installed, for the build and test steps that follow.
#[derive(Debug)]
pub struct Toolset {
    pub wasm: WasmToolchain,
    /// Set when installing for tests.
    pub browser: Option<Browser>,
}

#[derive(Debug)]
pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// A program the build or the tests call, and the Debian package that provides it.
struct SystemTool {
    program: &'static str,
    package: &'static str,
    purpose: Purpose,
}

const SYSTEM_TOOLS: &[SystemTool] = &[
    SystemTool {
        program: "chromium",
        package: "chromium",
        purpose: Purpose::Test,
    },
    SystemTool {
        program: "chromedriver",
        package: "chromium-driver",
        purpose: Purpose::Test,
    },
    SystemTool {
        // The HTTPS tests trust Rollcall's local CA in a throwaway Chromium profile, as IT would
        // on a tablet: through the browser's own certificate store (NSS).
        program: "certutil",
        package: "libnss3-tools",
        purpose: Purpose::Test,
    },
    SystemTool {
        // The backup tests on PostgreSQL (ROLLCALL_TEST_PG) take a real `pg_dump`.
        program: "pg_dump",
        package: "postgresql-client",
        purpose: Purpose::Test,
    },
    SystemTool {
        program: "node",
        package: "nodejs",
        // The build's wasm-opt and esbuild are node packages (xtask/package.json).
        purpose: Purpose::Run,
    },
    SystemTool {
        program: "npm",
        package: "npm",
        purpose: Purpose::Run,
    },
];

/// Debian's wasm-capable toolchain, exactly as TOOLCHAIN.md verified it (`lld-22` provides `rust-lld`).
const DEBIAN_WASM_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm", "lld-22"];

/// Set to `debian` to skip rustup and use Debian's toolchain for wasm32, or to `rustup` to forbid the fallback.
const TOOLCHAIN_VARIABLE: &str = "ROLLCALL_WASM_TOOLCHAIN";

pub fn install(ctx: &Ctx, purpose: Purpose) -> Result<Toolset, Failure> {
    let started = Instant::now();
    let mut apt = Apt { updated: false };
    let wasm = wasm_target(ctx, &mut apt)?;
    system_tools(ctx, &mut apt, purpose)?;
    wasm_bindgen_cli(ctx)?;
    node_packages(ctx, "xtask", "the build's tools")?;
    let browser = if purpose == Purpose::Test {
        node_packages(ctx, "tests", "the end-to-end tests")?;
        Some(browser(ctx)?)
    } else {
        None
    };
    println!(
        "==> install: everything present ({} in all)",
        human_duration(started.elapsed())
    );
    Ok(Toolset { wasm, browser })
}

fn wasm_target(ctx: &Ctx, apt: &mut Apt) -> Result<WasmToolchain, Failure> {
    step("install: the wasm32 target");
    let what = "install step \"wasm32 target\"";
    let allow_fallback = match std::env::var(TOOLCHAIN_VARIABLE).unwrap_or_default().as_str() {
        "" => true,
        "rustup" => false,
        "debian" => {
            println!("    {TOOLCHAIN_VARIABLE}=debian: using Debian's toolchain");
            return debian_toolchain(ctx, apt);
        }
        other => {
            return Err(Failure::new(
                what,
                format!("{TOOLCHAIN_VARIABLE} is {other:?}"),
                format!("set {TOOLCHAIN_VARIABLE} to `rustup` or `debian`, or unset it"),
            ));
        }
    };
    let mut installed = ctx.command("rustup");
    installed.args(["target", "list", "--installed"]);
    if ctx
        .probe(&mut installed)
        .is_some_and(|list| list.lines().any(|line| line.trim() == WASM_TARGET))
    {
        println!("    ok: rustup already has {WASM_TARGET}");
        std_source(ctx);
        return Ok(WasmToolchain::Rustup);
    }
    let mut add = ctx.command("rustup");
    add.args(["target", "add", WASM_TARGET]);
    match ctx.run(&mut add, what, "check that this machine can reach static.rust-lang.org") {
        Ok(()) => {
            std_source(ctx);
            Ok(WasmToolchain::Rustup)
        }
        Err(failure) if allow_fallback => {
            println!("    rustup could not add the target ({}).", failure.detail);
            println!("    Falling back to Debian's toolchain (rustc-web) with -Zbuild-std, as TOOLCHAIN.md describes.");
            debian_toolchain(ctx, apt)
        }
        Err(failure) => Err(failure),
    }
}

/// rustup's `rust-src`, so that the shipped wasm module rebuilds std for size (see `wasm::shrink_std`). Optional:
/// without it the module still builds, only larger.
fn std_source(ctx: &Ctx) {
    if WasmToolchain::Rustup.has_std_source(ctx) {
        println!("    ok: rustup already has rust-src");
        return;
    }
    let mut add = ctx.command("rustup");
    add.args(["component", "add", "rust-src"]);
    if let Err(failure) = ctx.run(&mut add, "install step \"rust-src\"", "optional") {
        println!(
            "    rust-src could not be added ({}); the wasm module will be built larger.",
            failure.detail
        );
    }
}

fn debian_toolchain(ctx: &Ctx, apt: &mut Apt) -> Result<WasmToolchain, Failure> {
    let what = "install step \"Debian wasm toolchain\"";
    let missing = apt.missing(ctx, DEBIAN_WASM_PACKAGES);
    if missing.is_empty() {
        println!("    ok: {} already installed", DEBIAN_WASM_PACKAGES.join(", "));
    } else {
        apt.install(ctx, &missing, what)?;
    }
    let mut version = ctx.command("/usr/bin/rustc");
    version.arg("--version");
    match ctx.probe(&mut version) {
        Some(version) => println!("    wasm32 builds use /usr/bin/rustc ({version})"),
        None => {
            return Err(Failure::new(
                what,
                "/usr/bin/rustc does not run after installing rustc-web",
                "run `/usr/bin/rustc --version` to see why; `apt-get install --reinstall rustc-web` may repair it",
            ));
        }
    }
    Ok(WasmToolchain::Debian)
}

fn system_tools(ctx: &Ctx, apt: &mut Apt, purpose: Purpose) -> Result<(), Failure> {
    step("install: system packages");
    let mut missing = Vec::new();
    for tool in SYSTEM_TOOLS
        .iter()
        .filter(|tool| tool.purpose == Purpose::Run || purpose == Purpose::Test)
    {
        match ctx.find_program(tool.program) {
            Some(path) => println!("    ok: {} ({})", tool.program, path.display()),
            None => {
                println!("    missing: {} (Debian package {})", tool.program, tool.package);
                missing.push(tool.package);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    apt.install(ctx, &missing, "install step \"system packages\"")?;
    let still_missing: Vec<&str> = SYSTEM_TOOLS
        .iter()
        .filter(|tool| missing.contains(&tool.package) && ctx.find_program(tool.program).is_none())
        .map(|tool| tool.program)
        .collect();
    if still_missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            "install step \"system packages\"",
            format!("still not on PATH after apt-get install: {}", still_missing.join(", ")),
            "check where the package put the program (`dpkg -L PACKAGE`) and add that directory to PATH",
        ))
    }
}

fn wasm_bindgen_cli(ctx: &Ctx) -> Result<(), Failure> {
    step("install: wasm-bindgen-cli");
    let what = "install step \"wasm-bindgen-cli\"";
    let wanted = locked_wasm_bindgen_version(ctx)?;
    // The CLI, the test runner and the `wasm-bindgen` crate must be the very same version: the CLI refuses
    // modules from any other.
    let present = |program: &str| {
        let mut version = ctx.command(program);
        version.arg("--version");
        ctx.probe(&mut version)
    };
    let matches = |program: &str| present(program).is_some_and(|line| line == format!("{program} {wanted}"));
    if matches("wasm-bindgen") && matches("wasm-bindgen-test-runner") {
        println!("    ok: wasm-bindgen {wanted} (matches Cargo.lock)");
        return Ok(());
    }
    println!(
        "    Cargo.lock wants wasm-bindgen {wanted}; found {} (takes a few minutes to build)",
        present("wasm-bindgen").unwrap_or_else(|| "none".to_owned())
    );
    let pinned = format!("={wanted}");
    let mut locked = ctx.command(&ctx.cargo);
    locked.args(["install", "wasm-bindgen-cli", "--version", &pinned, "--locked"]);
    let hint = "check that crates.io is reachable; the compiler errors above say more";
    if let Err(failure) = ctx.run(&mut locked, what, hint) {
        // A dependency pinned in wasm-bindgen-cli's own lock file can be yanked later (seen with webpki-roots);
        // resolving afresh still gives the same wasm-bindgen version.
        println!("    {}; retrying without --locked", failure.detail);
        let mut unlocked = ctx.command(&ctx.cargo);
        unlocked.args(["install", "wasm-bindgen-cli", "--version", &pinned]);
        ctx.run(&mut unlocked, what, hint)?;
    }
    if !matches("wasm-bindgen") {
        return Err(Failure::new(
            what,
            format!("`wasm-bindgen --version` does not say {wanted} after installing"),
            format!(
                "another wasm-bindgen comes first on PATH: put {} first",
                ctx.cargo_bin.display()
            ),
        ));
    }
    Ok(())
}

/// The `wasm-bindgen` crate version Cargo.lock resolved: the one version the CLI must have.
fn locked_wasm_bindgen_version(ctx: &Ctx) -> Result<String, Failure> {
    let what = "install step \"wasm-bindgen-cli\"";
    let lock = std::fs::read_to_string(ctx.root.join("Cargo.lock")).map_err(|error| {
        Failure::new(
            what,
            format!("cannot read Cargo.lock: {error}"),
            "run `cargo generate-lockfile`",
        )
    })?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next().and_then(|next| next.trim().strip_prefix("version = \""));
            if let Some(version) = version.and_then(|rest| rest.strip_suffix('"')) {
                return Ok(version.to_owned());
            }
        }
    }
    Err(Failure::new(
        what,
        "Cargo.lock has no `wasm-bindgen` package",
        "client-wasm must depend on wasm-bindgen; run `cargo generate-lockfile` after fixing its Cargo.toml",
    ))
}

/// Installs the node packages of one directory of the project (`xtask` or `tests`), unless they are up to date.
fn node_packages(ctx: &Ctx, dir_name: &str, used_by: &str) -> Result<(), Failure> {
    step(&format!("install: node packages for {used_by} ({dir_name}/)"));
    let dir = ctx.root.join(dir_name);
    let manifest = dir.join("package.json");
    let lock = dir.join("package-lock.json");
    if !manifest.exists() {
        println!("    ok: no {dir_name}/package.json, nothing to install");
        return Ok(());
    }
    // npm writes this file on every install; older than the manifest or the lock means node_modules is stale.
    let installed_at = modified(&dir.join("node_modules").join(".package-lock.json"));
    let wanted_at = modified(&manifest).max(modified(&lock));
    if installed_at.is_some() && installed_at >= wanted_at {
        println!("    ok: {dir_name}/node_modules is up to date");
        return Ok(());
    }
    let mut npm = ctx.command("npm");
    npm.current_dir(&dir);
    // Only what the lock names: never `npx playwright install`, which downloads its own browser and fails here
    // (the tests use Debian's Chromium).
    if lock.exists() {
        npm.args(["ci", "--no-audit", "--no-fund"]);
    } else {
        npm.args(["install", "--no-audit", "--no-fund"]);
    }
    ctx.run(
        &mut npm,
        "install step \"node packages\"",
        &format!(
            "check that registry.npmjs.org is reachable; if npm says package.json and package-lock.json are out of \
             sync, run `npm install` in {dir_name}/ and commit the new package-lock.json"
        ),
    )
}

/// The Chromium and chromedriver the browser tests drive; both come from Debian and must be the same build.
fn browser(ctx: &Ctx) -> Result<Browser, Failure> {
    let find = |program: &str| {
        ctx.find_program(program).ok_or_else(|| {
            Failure::new(
                "install step \"system packages\"",
                format!("{program} is not on PATH"),
                "install Debian's chromium and chromium-driver packages",
            )
        })
    };
    Ok(Browser {
        chromium: find("chromium")?,
        chromedriver: find("chromedriver")?,
    })
}

/// Debian's package manager, run as root or through sudo, with one `apt-get update` per xtask run at most.
struct Apt {
    updated: bool,
}

impl Apt {
    /// Which of `packages` dpkg does not list as installed.
    fn missing<'a>(&self, ctx: &Ctx, packages: &[&'a str]) -> Vec<&'a str> {
        packages
            .iter()
            .copied()
            .filter(|package| {
                let mut query = ctx.command("dpkg-query");
                query.args(["-W", "-f=${db:Status-Status}", package]);
                ctx.probe(&mut query).as_deref() != Some("installed")
            })
            .collect()
    }

    fn install(&mut self, ctx: &Ctx, packages: &[&str], what: &str) -> Result<(), Failure> {
        let by_hand = format!(
            "install them yourself (`sudo apt-get install -y {}`) and rerun",
            packages.join(" ")
        );
        if ctx.find_program("apt-get").is_none() {
            return Err(Failure::new(
                what,
                format!("apt-get is not available to install {}", packages.join(", ")),
                format!("this installer knows Debian's apt; {by_hand}"),
            ));
        }
        let mut as_root = ctx.command("id");
        as_root.arg("-u");
        let sudo = ctx.probe(&mut as_root).as_deref() != Some("0");
        if sudo && ctx.find_program("sudo").is_none() {
            return Err(Failure::new(
                what,
                format!(
                    "installing {} needs root, and sudo is not installed",
                    packages.join(", ")
                ),
                format!("rerun as root, or {by_hand}"),
            ));
        }
        let apt_get = |args: &[&str]| {
            let mut command = if sudo {
                let mut command = ctx.command("sudo");
                command.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                command
            } else {
                let mut command = ctx.command("apt-get");
                command.env("DEBIAN_FRONTEND", "noninteractive");
                command
            };
            command.args(args);
            command
        };
        let hint = format!("check that this machine reaches Debian's mirrors (`apt-get update`), or {by_hand}");
        if !self.updated {
            ctx.run(&mut apt_get(&["update"]), what, &hint)?;
            self.updated = true;
        }
        let mut install = apt_get(&["install", "-y"]);
        install.args(packages);
        ctx.run(&mut install, what, &hint)
    }
}
