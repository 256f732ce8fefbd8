//! schemathesis against the real server and its own description: `run.py` (next to this file)
//! starts the `sesame` binary on a fresh SQLite database, makes an administrator and a plain
//! user, and lets schemathesis generate requests from `/api/v1/openapi.json` as nobody, as
//! the user and as the administrator, with every check it has (no 5xx, statuses, content
//! types, bodies and headers as documented, invalid data refused, ...; the one exception and
//! its reason are in `schemathesis.toml`). This test runs it, prints the figures and fails
//! unless every phase passed with at least 2,000 requests in all.
//!
//! The binary is `target/release/sesame` when it is at least as new as the debug binary cargo
//! just built for this test, else that debug binary (`SESAME_BIN` overrides both).
//! schemathesis is not a Rust dependency: install it with
//! `python3 -m venv target/schemathesis-venv &&
//!  target/schemathesis-venv/bin/pip install -r tests/schemathesis/requirements.txt`.
//! Without it this test says so and passes, unless `CI` is set: then it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| executable(p))
    })
}

/// The schemathesis executable and the Python to run `run.py` with, as `run.py` looks for
/// them: `SCHEMATHESIS`, the venv under `target/`, or `PATH`.
fn schemathesis() -> Option<(PathBuf, PathBuf)> {
    let venv = root().join("target/schemathesis-venv/bin");
    let st = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .filter(|p| executable(p))
        .or_else(|| Some(venv.join("schemathesis")).filter(|p| executable(p)))
        .or_else(|| on_path("schemathesis"))?;
    let python = Some(venv.join("python3"))
        .filter(|p| executable(p))
        .or_else(|| on_path("python3"))?;
    Some((st, python))
}

/// The binary to test (see the module docs).
fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SESAME_BIN") {
        return bin.into();
    }
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_sesame"));
    let release = root().join("target/release/sesame");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    match (modified(&release), modified(&debug)) {
        (Some(r), Some(d)) if r >= d => release,
        _ => debug,
    }
}

#[test]
fn schemathesis_finds_no_difference_between_the_server_and_its_description() {
    let Some((st, python)) = schemathesis() else {
        let msg = "schemathesis is not installed: python3 -m venv target/schemathesis-venv && \
                   target/schemathesis-venv/bin/pip install -r tests/schemathesis/requirements.txt";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let reports = root().join("target/schemathesis-report");
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(&reports).unwrap();
    let summary_path = reports.join("summary.json");
    let binary = binary();
    println!("schemathesis {}; server {}", st.display(), binary.display());
    // The run's own output (progress, failures with a curl line to reproduce each) goes
    // straight to the terminal.
    let status = Command::new(python)
        .arg(root().join("tests/schemathesis/run.py"))
        .arg("--report-dir")
        .arg(&reports)
        .arg("--summary")
        .arg(&summary_path)
        .env("SCHEMATHESIS", &st)
        .env("SESAME_BIN", &binary)
        .status()
        .expect("running tests/schemathesis/run.py");
    assert_ne!(status.code(), Some(77), "run.py found no schemathesis");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&summary_path)
            .unwrap_or_else(|e| panic!("no summary from run.py ({status}): {e}")),
    )
    .unwrap();
    for phase in summary["phases"].as_array().unwrap() {
        println!(
            "{:>13}: {:>5} requests, passed: {}, statuses {}",
            phase["phase"].as_str().unwrap(),
            phase["requests"],
            phase["passed"],
            phase["statuses"]
        );
    }
    println!(
        "{:>13}: {:>5} requests, statuses {}",
        "total", summary["requests"], summary["statuses"]
    );
    assert_eq!(summary["server_errors"], 0, "5xx answers: {summary:#}");
    assert!(
        summary["requests"].as_u64().unwrap() >= 2000,
        "too few requests: {summary:#}"
    );
    assert!(
        status.success(),
        "schemathesis found differences (reports in {}): {summary:#}",
        reports.display()
    );
}
