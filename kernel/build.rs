//! Passes the linker script and records the version, git hash and compiler
//! for the boot banner.
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.contains("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", root.join("linker.ld").display());
    }
    for f in ["linker.ld", "boot/head.S", "boot/sysregs.inc"] {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    println!("cargo:rerun-if-changed={}", root.join(".git/HEAD").display());
    println!("cargo:rerun-if-changed={}", root.join(".git/index").display());
    let hash = output("git", &["-C", root.to_str().unwrap(), "rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "unknown".into());
    let dirty =
        output("git", &["-C", root.to_str().unwrap(), "status", "--porcelain", "--untracked-files=no"])
            .map(|s| if s.is_empty() { "" } else { "-dirty" })
            .unwrap_or("");
    println!("cargo:rustc-env=PAGODA_GIT_HASH={hash}{dirty}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    println!(
        "cargo:rustc-env=PAGODA_RUSTC={}",
        output(&rustc, &["--version"]).unwrap_or_else(|| "rustc".into())
    );
}
