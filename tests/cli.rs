//! The command line, without touching the Docker Engine: usage errors,
//! refused input, help.

mod common;

use common::{labctl, text};

#[test]
fn bad_scale_targets_are_usage_errors() {
    for (arg, expect) in [
        ("webapp=-1", "`-1` is not a number of web apps"),
        ("webapp=abc", "`abc` is not a number of web apps"),
        ("db=3", "unknown service `db`"),
        ("5", "expected `webapp=N`"),
    ] {
        let out = labctl(&["scale", arg]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{arg}: {stderr}");
        assert!(stderr.contains(expect), "{arg}: {stderr}");
    }
}

#[test]
fn a_bad_lab_name_is_refused() {
    let out = labctl(&["--lab", "Bad/Name", "ps"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: invalid lab name `Bad/Name`"),
        "{stderr}"
    );
}

#[test]
fn the_node_side_is_hidden_from_help() {
    let out = labctl(&["--help"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for verb in [
        "build", "up", "scale", "ps", "status", "logs", "exec", "down",
    ] {
        assert!(
            stdout.contains(&format!("  {verb} ")),
            "{verb} missing:\n{stdout}"
        );
    }
    assert!(!stdout.contains("node "), "{stdout}");
}

#[test]
fn an_unreachable_engine_names_the_socket() {
    let out = std::process::Command::new(common::BIN)
        .args(["ps"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("DOCKER_HOST"), "{stderr}");
}

#[test]
fn a_missing_template_directory_is_refused() {
    let out = labctl(&["--templates", "/nonexistent/templates", "ps"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("template directory `/nonexistent/templates` does not exist"),
        "{stderr}"
    );
}
