//! The files IT installs Rollcall with (packaging/): the systemd unit names real settings and is
//! accepted by systemd's own checker, and the container image sets real settings.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

use rollcall_server::settings::Settings;
use std::path::Path;
use std::process::Command;

fn packaging_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `ROLLCALL_*` variable a packaging file sets: each must be a setting (or the config file).
fn assert_only_real_settings(text: &str, file: &str) {
    let known: Vec<String> = Settings::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
        .chain(["ROLLCALL_CONFIG".to_owned()])
        .collect();
    let mut seen = 0;
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("ROLLCALL_") {
            seen += 1;
            assert!(
                known.iter().any(|name| name == word),
                "{file} sets {word}, which is not a setting"
            );
        }
    }
    assert!(seen > 0, "{file} sets no setting at all");
}

#[test]
fn the_systemd_unit_is_valid_and_writes_only_the_data_directory() {
    let unit = packaging_file("rollcall.service");
    assert_only_real_settings(&unit, "rollcall.service");
    let line = |key: &str| {
        unit.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit has no {key}="))
            .to_owned()
    };
    assert_eq!(line("ProtectSystem"), "strict");
    assert_eq!(line("ReadWritePaths"), "/var/lib/rollcall");
    assert_eq!(line("Environment=ROLLCALL_DATA_DIR").trim(), "/var/lib/rollcall");
    assert_eq!(line("User"), "rollcall");

    // systemd's checker, with the binary this build made in place of /usr/local/bin/rollcall.
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        println!("SKIPPED systemd-analyze verify: systemd-analyze is not installed here");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/rollcall", env!("CARGO_BIN_EXE_rollcall")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    // Outside a booted systemd (CI containers) verify may also complain about the machine; only
    // complaints about the unit itself count.
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|line| line.starts_with("rollcall.service"))
        .collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify:\n{said}");
}

#[test]
fn the_container_image_sets_real_settings() {
    let dockerfile = packaging_file("Dockerfile");
    assert_only_real_settings(&dockerfile, "Dockerfile");
    assert!(
        dockerfile.contains("USER rollcall"),
        "the container does not run as root"
    );
}
