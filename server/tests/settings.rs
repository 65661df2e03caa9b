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

/// `rollcall config check` with a configuration file holding `file`, these variables and flags.
fn config_check(file: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.toml");
    std::fs::write(&path, file).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ROLLCALL_") {
            command.env_remove(name);
        }
    }
    command
        .args(["config", "check", "--config"])
        .arg(&path)
        .args(args)
        .env("ROLLCALL_DATA_DIR", dir.path().join("data"))
        .envs(env.iter().copied());
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The line `config check` printed for `--name`: its value and where it came from.
fn setting_line<'a>(printed: &'a str, name: &str) -> Vec<&'a str> {
    printed
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{printed}"))
        .split_whitespace()
        .skip(1)
        .collect()
}

#[test]
fn the_file_sits_between_the_defaults_and_the_variables() {
    let file = "# the school's settings\nworkers = 3\nmax-clock-drift-secs = 5\nlog = \"debug\"\ntrusted-proxies = [\"10.0.0.5\", \"10.0.0.6\"]\n";
    let (ok, printed, errors) = config_check(file, &[("ROLLCALL_WORKERS", "4")], &["--log", "warn"]);
    assert!(ok, "{printed}{errors}");
    assert_eq!(setting_line(&printed, "workers"), ["4", "variable", "ROLLCALL_WORKERS"]);
    assert_eq!(setting_line(&printed, "log"), ["warn", "flag", "--log"]);
    let drift = setting_line(&printed, "max-clock-drift-secs");
    assert_eq!((drift[0], drift[2], drift[3]), ("5", "line", "3"), "{printed}");
    assert!(drift[1].ends_with("rollcall.toml"), "{printed}");
    assert_eq!(setting_line(&printed, "trusted-proxies")[0], "10.0.0.5,10.0.0.6");
    assert_eq!(setting_line(&printed, "bind"), ["127.0.0.1:8080", "default"]);
    assert!(printed.contains("The server would accept these settings."), "{printed}");

    // And the server itself starts with the file's address, unless a variable says otherwise.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.toml");
    std::fs::write(&path, "bind = \"127.0.0.3:0\"\n").unwrap();
    let config = path.to_str().unwrap();
    assert!(listening_address(&[("ROLLCALL_CONFIG", config)], &[]).starts_with("127.0.0.3:"));
    assert!(listening_address(&[], &["--config", config]).starts_with("127.0.0.3:"));
    let by_variable = listening_address(&[("ROLLCALL_CONFIG", config), ("ROLLCALL_BIND", "127.0.0.4:0")], &[]);
    assert!(by_variable.starts_with("127.0.0.4:"), "{by_variable}");
}

#[test]
fn an_unknown_key_or_a_bad_value_is_named_with_its_line() {
    let (ok, _, errors) = config_check("bind = \"127.0.0.1:8080\"\n\nbnd = \"0.0.0.0:80\"\n", &[], &[]);
    assert!(!ok);
    assert!(
        errors.contains("rollcall.toml line 3: unknown setting `bnd`"),
        "{errors}"
    );
    let (ok, _, errors) = config_check("workers = \"many\"\n", &[], &[]);
    assert!(!ok);
    assert!(
        errors.contains("rollcall.toml line 1: --workers=\"many\" is not valid: expected a whole number"),
        "{errors}"
    );
    let (ok, _, errors) = config_check("[server]\nbind = \"0.0.0.0:80\"\n", &[], &[]);
    assert!(!ok);
    assert!(errors.contains("line 1: unknown setting `server`"), "{errors}");
    let (ok, _, errors) = config_check("\nbind = { address = \"0.0.0.0\", port = 80 }\n", &[], &[]);
    assert!(!ok);
    assert!(errors.contains("line 2: `bind` must be a string"), "{errors}");
    let (ok, _, errors) = config_check("bind = \n", &[], &[]);
    assert!(!ok);
    assert!(errors.contains("not valid TOML"), "{errors}");
    // `serve` refuses the same file before starting.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.toml");
    std::fs::write(&path, "bnd = 1\n").unwrap();
    let stderr = refusal(&[("ROLLCALL_CONFIG", path.to_str().unwrap())]);
    assert!(stderr.contains("line 1: unknown setting `bnd`"), "{stderr}");
}

#[test]
fn config_check_refuses_what_the_server_would_refuse_and_never_shows_a_secret() {
    let (ok, printed, errors) = config_check(
        "access-token-ttl-secs = 3600\njwt-secret = \"hunter2-hunter2-hunter2-hunter2-hunter2\"\n",
        &[("ROLLCALL_DB", "postgres://rollcall:hunter2@db.school.lan/rollcall")],
        &[],
    );
    assert!(!ok);
    assert!(errors.contains("must be 1 to 900 seconds (set in "), "{errors}");
    assert!(errors.contains("rollcall.toml line 1)"), "{errors}");
    assert!(
        !printed.contains("hunter2") && !errors.contains("hunter2"),
        "{printed}{errors}"
    );
    assert_eq!(setting_line(&printed, "db"), ["<redacted>", "variable", "ROLLCALL_DB"]);
    assert_eq!(setting_line(&printed, "jwt-secret")[0], "<redacted>");
    let (ok, _, errors) = config_check("jwt-secret = \"hunter2\"\n", &[], &[]);
    assert!(!ok);
    assert!(
        errors.contains("ROLLCALL_JWT_SECRET") && !errors.contains("hunter2"),
        "{errors}"
    );
}
