//! Building the `rollcall` binary and running it the way `cargo xtask run` promises: a demo school on embedded
//! SQLite in ./data, served on http://127.0.0.1:8080.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::context::{Ctx, Failure, step};

const SERVER_PACKAGE: &str = "rollcall-server";
const SERVER_BINARY: &str = "rollcall";
pub const BIND: &str = "127.0.0.1:8080";
const HEALTH_PATH: &str = "/healthz";
/// How long a fresh start (migrations on an empty database) may take before we stop waiting to print the banner.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// The demo logins `rollcall demo` creates; fixed by issue 3 and documented in the README.
const DEMO_USERS: &[&str] = &["admin", "teacher1", "teacher2", "teacher3", "teacher4"];
const DEMO_PASSWORD: &str = "rollcall-demo";

/// Builds the release server. Call it after the wasm client is in www/pkg: the server embeds www/.
pub fn build_server(ctx: &Ctx) -> Result<PathBuf, Failure> {
    step(&format!("compile {SERVER_PACKAGE} (release); it embeds www/"));
    let mut build = ctx.command(&ctx.cargo);
    build.args(["build", "--release", "-p", SERVER_PACKAGE]);
    ctx.run(
        &mut build,
        "compiling the server",
        "read the compiler errors above; they are in server/ or shared/, not in the setup",
    )?;
    Ok(ctx.native_target_dir().join("release").join(SERVER_BINARY))
}

/// Seeds the demo school. `rollcall demo` is expected to exit 0 both when it seeded and when the database
/// already holds data (it leaves that alone), so this is safe on every `cargo xtask run`.
pub fn seed_demo(ctx: &Ctx, binary: &Path, data_dir: &Path) -> Result<(), Failure> {
    step("seed the demo school (only if the database is empty)");
    let mut demo = ctx.command(binary);
    demo.arg("demo").arg("--data-dir").arg(data_dir);
    ctx.run(
        &mut demo,
        "seeding the demo school",
        "read the server's message above; to start over with a fresh demo school, stop the server and delete ./data",
    )
}

/// Starts `rollcall serve`, prints the address and the demo logins once it answers, then stays attached until
/// the server stops (Ctrl-C reaches both of us).
pub fn serve(ctx: &Ctx, binary: &Path, data_dir: &Path) -> Result<(), Failure> {
    let what = "starting the server";
    let address: SocketAddr = BIND
        .parse()
        .map_err(|_| Failure::new(what, "bad bind address", "fix BIND in xtask"))?;
    if TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_ok() {
        return Err(Failure::new(
            what,
            format!("something already listens on {BIND}"),
            "stop the other program (an earlier `cargo xtask run`?) and rerun",
        ));
    }
    step(&format!("start the server on http://{BIND}"));
    let mut serve = ctx.command(binary);
    serve.args(["serve", "--bind", BIND, "--data-dir"]).arg(data_dir);
    println!("    $ {}", crate::context::show(&serve));
    let mut child = serve.spawn().map_err(|error| {
        Failure::new(
            what,
            format!("could not start {}: {error}", binary.display()),
            "rebuild with `cargo xtask build`",
        )
    })?;

    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failure::new(
                what,
                format!("the server stopped with {status} before answering"),
                "read its log above",
            ));
        }
        if health_ok(&address) {
            print_banner(data_dir);
            break;
        }
        if started.elapsed() > STARTUP_WAIT {
            println!(
                "    the server has not answered {HEALTH_PATH} after {}s; still waiting on it",
                STARTUP_WAIT.as_secs()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let status = child
        .wait()
        .map_err(|error| Failure::new(what, error.to_string(), "read the server's log above"))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::new(
            "the server",
            format!("it stopped with {status}"),
            "read its log above",
        ))
    }
}

/// One plain HTTP/1.1 GET of the health endpoint; std only, so the xtask stays dependency-free.
fn health_ok(address: &SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(address, Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {BIND}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn print_banner(data_dir: &Path) {
    println!();
    println!("  Rollcall is running:  http://{BIND}/");
    println!("  Data directory:       {}", data_dir.display());
    println!("  Demo logins (demo data only), all with the password {DEMO_PASSWORD}:");
    println!("      {}", DEMO_USERS.join(", "));
    println!("  Stop it with Ctrl-C.");
    println!();
}
