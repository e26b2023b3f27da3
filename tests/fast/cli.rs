//! The command line, without touching the Docker Engine: usage errors,
//! refused input, help.

use crate::bin::{labctl, text};

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
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.starts_with(
            "error: invalid value 'Bad/Name' for '--lab <LAB>': invalid lab name `Bad/Name`"
        ),
        "{stderr}"
    );
}

#[test]
fn the_node_side_is_hidden_from_help() {
    let out = labctl(&["--help"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for verb in [
        "build",
        "up",
        "scale",
        "start",
        "stop",
        "restart",
        "kill",
        "ls",
        "ps",
        "status",
        "logs",
        "exec",
        "down",
        "completions",
        "man",
    ] {
        assert!(
            stdout.contains(&format!("  {verb} ")),
            "{verb} missing:\n{stdout}"
        );
    }
    assert!(
        !stdout.lines().any(|l| l.trim_start().starts_with("node ")),
        "{stdout}"
    );
}

#[test]
fn an_unreachable_engine_names_the_socket() {
    let out = std::process::Command::new(crate::bin::BIN)
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
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("template directory `/nonexistent/templates` does not exist"),
        "{stderr}"
    );
}

/// labctl with an engine that cannot be reached: what fails before it is
/// reached is the command line's fault.
fn without_engine(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(crate::bin::BIN)
        .args(args)
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .env_remove("LABCTL_LAB")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn usage_errors_exit_2_before_the_engine_is_reached() {
    let dir = std::env::temp_dir().join(format!("labctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "name: x\nstage: 6\nsteps:\n  - jump: {}\n").unwrap();
    let bad = bad.display().to_string();
    for (args, expect) in [
        (vec!["--lab", "Demo", "ps"], "invalid lab name `Demo`"),
        (vec!["collect", "task9"], "invalid value 'task9'"),
        (vec!["bench", "nope"], "invalid value 'nope'"),
        (
            vec!["run", "/nonexistent.yaml"],
            "cannot read scenario `/nonexistent.yaml`",
        ),
        (vec!["run", &bad], "unknown variant `jump`"),
        (vec!["up", "--subnet", "10.0.0.0/8"], "10.0.0.0/8"),
        (
            vec![
                "--lab",
                "demo",
                "up",
                "--http-port",
                "8080",
                "--stats-port",
                "8080",
            ],
            "cannot share port 8080",
        ),
        (vec!["up", "--timeout", "soon"], "`soon` is not a duration"),
        (
            vec!["kill", "s1", "--signal", "SIGFOO"],
            "unknown signal `SIGFOO`",
        ),
    ] {
        let (code, _, stderr) = without_engine(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("Docker Engine"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flags_users_type_are_accepted_and_reach_the_engine() {
    for args in [
        vec!["ps", "-o", "json"],
        vec!["status", "-o", "json"],
        vec!["ls", "-o", "json"],
        vec!["up", "-d", "--timeout", "2m"],
        vec!["scale", "webapp=3", "--detach", "--timeout", "90"],
        vec!["down", "--all"],
        vec!["restart", "s1", "s2"],
    ] {
        let (code, _, stderr) = without_engine(&args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach the Docker Engine"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn validate_checks_every_file_even_after_a_missing_one() {
    let (code, stdout, stderr) = without_engine(&[
        "validate",
        "scenarios/task1.yaml",
        "/nonexistent.yaml",
        "scenarios/task5.yaml",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read scenario `/nonexistent.yaml`"),
        "{stderr}"
    );
    assert!(stdout.contains("scenarios/task1.yaml: ok"), "{stdout}");
    assert!(stdout.contains("scenarios/task5.yaml: ok"), "{stdout}");
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let (code, stdout, _) = without_engine(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("_labctl()"), "{stdout}");
    for verb in ["restart", "collect", "task5"] {
        assert!(stdout.contains(verb), "{verb} not completed");
    }
    let (code, stdout, _) = without_engine(&["completions", "zsh"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("#compdef labctl"), "{stdout}");
    let (code, stdout, _) = without_engine(&["man"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains(".TH labctl"), "{stdout}");
    assert!(stdout.contains("scale"), "{stdout}");
}

#[test]
fn the_report_of_the_repositorys_logs_resolves_every_link_and_keeps_answers() {
    let out = std::env::temp_dir().join(format!("labctl-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let out_arg = out.display().to_string();
    let (code, stdout, stderr) = without_engine(&["report", "--logs", "logs", "--out", &out_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let file = out.join("README.md");
    let md = std::fs::read_to_string(&file).unwrap();
    // Every image and link of the report points at a file that exists.
    let mut targets = 0;
    for part in md.split("](").skip(1).chain(md.split("href=\"").skip(1)) {
        let target = part.split([')', '"']).next().unwrap();
        if target.starts_with('#') {
            continue;
        }
        assert!(out.join(target).is_file(), "{target} does not resolve");
        targets += 1;
    }
    assert!(targets > 40, "only {targets} links");
    assert!(
        md.contains("![screenshot of the stats page"),
        "no screenshot embedded"
    );
    for task in 0..=6 {
        assert!(
            md.contains(&format!("## Task {task}: ")),
            "task {task} missing"
        );
    }

    // A second run keeps what the student wrote.
    let edited = md.replacen(
        "## Introduction\n\n<!-- your answer -->",
        "## Introduction\n\nThis lab scales a web app behind HAProxy.",
        1,
    );
    assert_ne!(edited, md);
    std::fs::write(&file, &edited).unwrap();
    let (code, _, stderr) = without_engine(&["report", "--logs", "logs", "--out", &out_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    let again = std::fs::read_to_string(&file).unwrap();
    assert!(again.contains("## Introduction\n\nThis lab scales a web app behind HAProxy.\n"));
    assert_eq!(again, edited);
    std::fs::remove_dir_all(&out).unwrap();
}
