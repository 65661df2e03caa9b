//! The settings as the real binary reads them: environment variables over defaults, flags over
//! variables, other `ROLLCALL_*` variables ignored, and errors that name the variable without
//! showing a secret. (How each value parses is tested in `server/src/settings.rs`.)

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// `rollcall serve` in a fresh data directory with only these `ROLLCALL_*` variables set.
fn serve(env: &[(&str, &str)], args: &[&str]) -> (Command, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command.arg("serve").args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("ROLLCALL_") {
            command.env_remove(name);
        }
    }
    command
        .env("ROLLCALL_DATA_DIR", data_dir.path())
        .env("ROLLCALL_LOG", "warn")
        .envs(env.iter().copied());
    (command, data_dir)
}

/// Runs a server that should start; returns the address it says it listens on.
fn listening_address(env: &[(&str, &str)], args: &[&str]) -> String {
    let (mut command, _data_dir) = serve(env, args);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    line.trim()
        .strip_prefix("Rollcall is running at http://")
        .unwrap_or_else(|| panic!("the server did not start: {line:?}"))
        .trim_end_matches('/')
        .to_owned()
}

/// Runs a server that should refuse to start; returns what it said.
fn refusal(env: &[(&str, &str)]) -> String {
    let (mut command, _data_dir) = serve(env, &["--bind", "127.0.0.1:0"]);
    let output = command.output().unwrap();
    assert!(!output.status.success(), "it started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_variable_wins_over_the_default_and_a_flag_over_the_variable() {
    let by_variable = listening_address(
        &[
            ("ROLLCALL_BIND", "127.0.0.2:0"),
            ("ROLLCALL_TEST_PG", "not a setting"),
            ("ROLLCALL_NOT_A_SETTING", "ignored"),
        ],
        &[],
    );
    assert!(by_variable.starts_with("127.0.0.2:"), "{by_variable}");
    let by_flag = listening_address(&[("ROLLCALL_BIND", "127.0.0.2:0")], &["--bind", "127.0.0.3:0"]);
    assert!(by_flag.starts_with("127.0.0.3:"), "{by_flag}");
}

#[test]
fn a_bad_variable_is_named_and_a_secret_is_not_shown() {
    let said = refusal(&[("ROLLCALL_WORKERS", "many")]);
    assert!(
        said.contains(r#"ROLLCALL_WORKERS="many" is not valid: expected a whole number"#),
        "{said}"
    );
    let said = refusal(&[("ROLLCALL_ACCESS_TOKEN_TTL_SECS", "3600")]);
    assert!(
        said.contains(r#"ROLLCALL_ACCESS_TOKEN_TTL_SECS="3600" is not valid: must be 1 to 900 seconds"#),
        "{said}"
    );
    let said = refusal(&[("ROLLCALL_JWT_SECRET", "short-secret")]);
    assert!(
        said.contains("ROLLCALL_JWT_SECRET") && said.contains("at least 32 characters"),
        "{said}"
    );
    assert!(!said.contains("short-secret"), "{said}");
}

#[test]
fn help_lists_every_variable_and_hides_secret_values() {
    let (mut command, _data_dir) = serve(
        &[
            ("ROLLCALL_DB", "postgres://rollcall:hunter2@db/rollcall"),
            ("ROLLCALL_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ROLLCALL_WORKERS", "3"),
        ],
        &["--help"],
    );
    let output = command.output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        !help.contains("hunter2") && !help.contains("0123456789abcdef"),
        "{help}"
    );
    assert!(help.contains("[env: ROLLCALL_WORKERS=3]"), "{help}");
    for variable in [
        "ROLLCALL_BIND",
        "ROLLCALL_DATA_DIR",
        "ROLLCALL_DB",
        "ROLLCALL_JWT_SECRET",
        "ROLLCALL_ACCESS_TOKEN_TTL_SECS",
        "ROLLCALL_SESSION_RECHECK_SECS",
        "ROLLCALL_LOG",
    ] {
        assert!(help.contains(variable), "{variable} missing from:\n{help}");
    }
}
