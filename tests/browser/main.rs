//! The web front in a real browser: runs `node --test tests/browser/web.test.js` (Debian's
//! Chromium driven by playwright-core, every page checked with axe-core) against the sesame
//! binary, and fails when node does.
//!
//! The binary is `SESAME_BIN` if set, else `target/release/sesame` when it exists and is not
//! older than the binary cargo built for this test run, else that binary. Without
//! `tests/browser/node_modules` (`npm ci --prefix tests/browser`) or Chromium the test is
//! skipped with a message, unless `CI` is set: then it fails, naming what is missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

const SCRIPT: &str = "tests/browser/web.test.js";
const CHROMIUM: &str = "/usr/bin/chromium";

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The binary to test (see the module docs).
fn sesame_bin(root: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("SESAME_BIN") {
        return PathBuf::from(bin);
    }
    let built = PathBuf::from(env!("CARGO_BIN_EXE_sesame"));
    let release = root.join("target/release/sesame");
    match (modified(&release), modified(&built)) {
        (Some(r), Some(b)) if r >= b => release,
        (Some(_), None) => release,
        _ => built,
    }
}

#[test]
fn web_front_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium =
        std::env::var_os("CHROMIUM_PATH").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    let mut missing = Vec::new();
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
        || !root.join("tests/browser/node_modules/axe-core").is_dir()
    {
        missing.push("tests/browser/node_modules (run `npm ci --prefix tests/browser`)".to_owned());
    }
    if !chromium.exists() {
        missing.push(format!(
            "{} (run `apt-get install chromium`)",
            chromium.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (20 or later)".to_owned());
    }
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests cannot run: missing {}",
            missing.join(", ")
        );
        // Straight to the terminal: libtest would hide `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "browser tests skipped: run `npm ci --prefix tests/browser` and install chromium \
             (missing: {})",
            missing.join(", ")
        );
        return;
    }
    let bin = sesame_bin(root);
    eprintln!("browser tests against {}", bin.display());
    let started = Instant::now();
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", SCRIPT])
        .current_dir(root)
        .env("SESAME_BIN", &bin)
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("running node");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let _ = writeln!(
        std::io::stderr(),
        "browser tests against {} took {:.1} s",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the browser tests failed ({})",
        out.status
    );
}
