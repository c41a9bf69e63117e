//! The release flow: `make ver=X.Y.Z version` in a temporary copy updates the version in
//! Cargo.toml and Cargo.lock (the reported `lightstep.tracer_version` is Cargo.toml's, read
//! at build time: `tests/reporting.rs` checks that) and opens a CHANGELOG.md section.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn make_version_updates_every_place() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let copy = std::env::temp_dir().join(format!("lightstep-release-{}", std::process::id()));
    std::fs::create_dir_all(&copy).expect("temp dir");
    for file in ["Makefile", "Cargo.toml", "Cargo.lock", "CHANGELOG.md"] {
        std::fs::copy(root.join(file), copy.join(file)).expect(file);
    }
    let run = |args: &[&str]| {
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&copy)
            .args(args)
            .output()
            .expect("`make` must be installed to test the release flow")
    };
    let refused = run(&["ver=1.2", "version"]);
    assert!(
        !refused.status.success(),
        "a malformed version was accepted"
    );

    let done = run(&["ver=9.9.9", "version"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let read = |file: &str| std::fs::read_to_string(copy.join(file)).expect(file);
    let manifest = read("Cargo.toml");
    let package_version = manifest.lines().find(|l| l.starts_with("version = "));
    assert_eq!(package_version, Some(r#"version = "9.9.9""#));
    assert!(
        manifest.contains(r#"rust-version = "#),
        "only the package version changes"
    );
    let lock = read("Cargo.lock");
    assert!(
        lock.contains("name = \"lightstep\"\nversion = \"9.9.9\"\n"),
        "Cargo.lock"
    );
    assert_eq!(
        lock.matches("version = \"9.9.9\"").count(),
        1,
        "only our entry changes"
    );
    let changelog = read("CHANGELOG.md");
    let unreleased = changelog
        .find("## [Unreleased]")
        .expect("Unreleased section");
    let section = changelog
        .find("## [9.9.9] - ")
        .expect("a section for 9.9.9");
    assert!(section > unreleased);
    // Running it again adds no second section.
    assert!(run(&["ver=9.9.9", "version"]).status.success());
    assert_eq!(read("CHANGELOG.md").matches("## [9.9.9]").count(), 1);
    let _ = std::fs::remove_dir_all(&copy);
}
