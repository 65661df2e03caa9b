//! The plumbing every xtask command shares: where the repository is, which PATH child processes see, how a
//! command is echoed and run, and how a failure is phrased for the person at the keyboard.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// A step or stage that did not work: what failed, how, and what to try next. Printed once, at the top level.
#[derive(Debug)]
pub struct Failure {
    /// Which step or stage failed, e.g. `install step "wasm-bindgen-cli"`.
    pub what: String,
    /// What went wrong, e.g. which command exited with which status.
    pub detail: String,
    /// The next thing to try; written for someone who has not read this code.
    pub hint: String,
}

impl Failure {
    pub fn new(what: impl Into<String>, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            detail: detail.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}\n  what to try: {}", self.what, self.detail, self.hint)
    }
}

/// Where things are, and the environment every child process gets.
#[derive(Debug)]
pub struct Ctx {
    /// The workspace root; every command runs there.
    pub root: PathBuf,
    /// PATH with cargo's bin directory in front, so a freshly `cargo install`ed wasm-bindgen is found even when
    /// the user's shell never sourced `~/.cargo/env`.
    path: OsString,
    /// The cargo that started this xtask (the host toolchain).
    pub cargo: OsString,
    /// Where `cargo install` puts binaries.
    pub cargo_bin: PathBuf,
}

impl Ctx {
    pub fn new() -> Self {
        // `cargo run` sets CARGO_MANIFEST_DIR for the running xtask too; prefer it to the compile-time value,
        // which goes stale when a checkout is moved or copied together with its target/.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let root = manifest_dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
            .unwrap_or_else(|| PathBuf::from(".cargo"));
        let cargo_bin = cargo_home.join("bin");
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![cargo_bin.clone()];
        dirs.extend(std::env::split_paths(&inherited).filter(|dir| dir != &cargo_bin));
        let path = std::env::join_paths(dirs).unwrap_or(inherited);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        Self {
            root,
            path,
            cargo,
            cargo_bin,
        }
    }

    /// The native cargo target directory, honouring a CARGO_TARGET_DIR the user set.
    pub fn native_target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => self.root.join(dir),
            None => self.root.join("target"),
        }
    }

    /// The wasm32 target directory: separate, so host builds are never blocked on the same lock.
    pub fn wasm_target_dir(&self) -> PathBuf {
        self.root.join("target").join("wasm")
    }

    /// A command that runs in the workspace root and sees our PATH.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.root).env("PATH", &self.path);
        command
    }

    /// Finds `program` on our PATH, like `command -v`.
    pub fn find_program(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }

    /// Echoes `command`, runs it with the terminal attached and turns a failure into a `Failure` of `what`.
    pub fn run(&self, command: &mut Command, what: &str, hint: &str) -> Result<(), Failure> {
        let shown = show(command);
        println!("    $ {shown}");
        match command.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failure::new(what, format!("`{shown}` exited with {status}"), hint)),
            Err(error) => Err(Failure::new(what, format!("could not start `{shown}`: {error}"), hint)),
        }
    }

    /// Runs `command` silently and returns its trimmed stdout when it succeeds; a probe, not a step.
    pub fn probe(&self, command: &mut Command) -> Option<String> {
        let output = command.stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// The command as a person would type it, with the variables we set in front (PATH left out: it is long and
/// always the same).
pub fn show(command: &Command) -> String {
    let mut words: Vec<String> = command
        .get_envs()
        .filter(|(key, _)| *key != "PATH")
        .filter_map(|(key, value)| Some(format!("{}={}", key.to_string_lossy(), value?.to_string_lossy())))
        .collect();
    words.push(command.get_program().to_string_lossy().into_owned());
    words.extend(command.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Prints the header of one install or build step.
pub fn step(name: &str) {
    println!("==> {name}");
}

/// "4.2s" or "3m 07s": what a person wants to read in a summary.
pub fn human_duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// When `path` was last written; `None` when it does not exist.
pub fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|meta| meta.modified()).ok()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
