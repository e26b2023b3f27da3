//! The lab on another architecture than the engine's: arm64 containers on
//! this x86_64 engine, run by qemu's emulation (CI installs and registers
//! qemu-user-static), as an Apple Silicon laptop runs them natively. The
//! agent is built for aarch64 from labctl's source, the base image made by
//! debootstrap for arm64, and the images sit beside the native ones.

use std::process::Command;
use std::time::Duration;

use crate::common::{text, Load, TestLab, BIN};

/// What `docker image inspect` says of `image`'s architecture.
fn image_arch(image: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Architecture}}", image])
        .output()
        .expect("docker image inspect");
    assert!(out.status.success(), "{image}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// labctl on lab `lab` with `LABCTL_AGENT` set to `agent`.
fn with_agent(lab: &str, agent: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("LABCTL_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("LABCTL_AGENT", agent)
        .args(["--lab", lab, "--quiet"])
        .args(args)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    (out.status.code(), stderr)
}

#[test]
fn an_arm64_lab_runs_scales_and_collects_under_emulation() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("arm");

    // An agent that does not fit is refused before anything is created.
    let dir = std::env::temp_dir().join(format!("labctl-arm64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mach_o = dir.join("labctl-macos");
    std::fs::write(&mach_o, [0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 0x01]).unwrap();
    let (code, stderr) = with_agent(&lab.name, &mach_o, &["up", "--platform", "linux/arm64"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "is a macOS (Mach-O) program; the images need a static Linux program for aarch64"
        ),
        "{stderr}"
    );
    let native = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/agent/x86_64-unknown-linux-musl/agent/labctl");
    let (code, stderr) = with_agent(&lab.name, &native, &["up", "--platform", "linux/arm64"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is a Linux program for x86_64; the engine runs aarch64"),
        "{stderr}"
    );
    assert!(
        lab.ps().is_empty(),
        "a refused agent created {:?}",
        lab.ps()
    );

    // The lab on arm64: every node runs aarch64 programs.
    lab.ok(&["up", "--platform", "linux/arm64", "--timeout", "5m"]);
    for node in ["ha", "s1", "s2"] {
        assert_eq!(lab.exec(node, &["uname", "-m"]).trim(), "aarch64", "{node}");
    }
    // Both architectures' images side by side on one engine.
    assert_eq!(image_arch("labctl/ha:arm64"), "arm64");
    assert_eq!(image_arch("labctl/webapp:arm64"), "arm64");
    assert_eq!(image_arch("labctl/ha:latest"), "amd64");

    // Scaling 2 → 4 → 2 under load from a client that never retries.
    let load = Load::start(lab.host_port(80), 20_000, Duration::from_secs(600));
    lab.ok(&["scale", "webapp=4", "--timeout", "5m"]);
    // New web apps take the lab's platform from the lab itself.
    assert_eq!(lab.exec("s4", &["uname", "-m"]).trim(), "aarch64");
    lab.ok(&["scale", "webapp=2", "--timeout", "5m"]);
    load.finish().assert_none_lost();

    // A lab that runs arm64 is not restarted on another platform by mistake.
    let out = lab.run(&["up", "--platform", "linux/amd64"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("runs linux/arm64; run `labctl down` first"),
        "{stderr}"
    );

    // The task 5 deliverables, collected on arm64.
    let logs = dir.join("logs");
    let logs_arg = logs.display().to_string();
    let out = lab.ok(&[
        "collect",
        "task5",
        "--platform",
        "linux/arm64",
        "--out-root",
        &logs_arg,
    ]);
    assert!(out.contains("task5: passed"), "{out}");
    let index = std::fs::read_to_string(logs.join("task5/INDEX.md")).unwrap();
    assert!(index.contains("every step passed"), "{index}");
    lab.ok(&["down"]);
    let _ = std::fs::remove_dir_all(&dir);
}
