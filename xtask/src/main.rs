//! Rollcall's build, run and test driver, reached through the cargo alias in `.cargo/config.toml`:
//! `cargo xtask run` and `cargo xtask test` are the two commands the README promises. Each first installs what
//! is missing (see `install`). Beyond std it uses only walrus and serde_json (to rename the wasm client's imports
//! after minifying its glue), so it compiles in well under a minute on a machine that has nothing yet.

mod context;
mod install;
mod precompress;
mod server;
mod stages;
mod test;
mod wasm;

use std::process::ExitCode;

use context::{Ctx, Failure};
use install::Purpose;
use stages::Stages;

const USAGE: &str = "\
usage: cargo xtask <command>

  run      install what is missing, build, seed the demo school in ./data (first time only)
           and serve it on http://127.0.0.1:8080
  test     install what is missing and run every test: native, wasm32 in headless Chromium,
           end-to-end (tests/*.test.mjs)
  build    install what running needs, then build www/pkg and the release server binary
  install  only install what is missing (everything `test` needs)

environment:
  ROLLCALL_WASM_TOOLCHAIN=debian  compile wasm32 with Debian's rustc-web instead of rustup's target
  ROLLCALL_TEST_PG=postgres://…   also run the server tests on this PostgreSQL database";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let ctx = Ctx::new();
    let outcome = match command.as_str() {
        "run" => run(&ctx),
        "test" => test::test(&ctx),
        "build" => build(&ctx, &mut Stages::new(3)).map(|_| ()),
        "install" => install::install(&ctx, Purpose::Test).map(|_| ()),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("\nerror: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// The first stages of `build` and `run`: tools, then www/pkg, then the server that embeds it.
fn build(ctx: &Ctx, stages: &mut Stages) -> Result<std::path::PathBuf, Failure> {
    let tools = stages.run("install what is missing", || install::install(ctx, Purpose::Run))?;
    stages.run("build the wasm client into www/pkg", || {
        wasm::build_client(ctx, tools.wasm)
    })?;
    stages.run("build the server", || server::build_server(ctx))
}

fn run(ctx: &Ctx) -> Result<(), Failure> {
    let mut stages = Stages::new(4);
    let binary = build(ctx, &mut stages)?;
    let data_dir = ctx.root.join("data");
    stages.run("demo school", || server::seed_demo(ctx, &binary, &data_dir))?;
    server::serve(ctx, &binary, &data_dir)
}
