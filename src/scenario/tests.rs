use super::*;

fn problems(text: &str) -> Vec<String> {
    match parse("t.yaml", text) {
        Ok(_) => Vec::new(),
        Err(p) => p.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_built_in_scenario_is_valid() {
    for (name, text) in BUILT_IN {
        let s = parse(&format!("scenarios/{name}.yaml"), text).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(&s.name, name);
    }
}

#[test]
fn a_full_scenario_parses() {
    let s = parse(
        "t.yaml",
        "name: demo\nstage: 5\nsteps:\n  - up: {webapps: 0}\n  - start: s1\n  - wait: {converged: true}\n  - snapshot: {name: one, capture: [ps, config]}\n  - stop: s1\n  - expect: {nodes: []}\n  - exec: {node: ha, cmd: [ls, /nodes], save_as: ls.txt}\n  - http: {requests: 3, expect_status: 503}\n",
    )
    .unwrap();
    assert_eq!(s.steps.len(), 8);
    assert!(matches!(&s.steps[1], Step::Start(n) if n == "s1"));
    assert!(
        matches!(&s.steps[3], Step::Snapshot(SnapshotStep { capture: Some(c), .. }) if c == &[Capture::Ps, Capture::Config])
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let p = problems("name: x\nsteps:\n  - up: {webapps: 2\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0], "t.yaml:4:1: did not find expected ',' or '}', while parsing a flow mapping at line 3 column 9");
}

#[test]
fn unknown_keys_and_kinds_are_refused() {
    let p = problems("name: x\nsteps:\n  - up: {webapps: 2, colour: red}\n");
    assert!(p[0].contains("unknown field `colour`"), "{p:?}");
    assert!(p[0].starts_with("t.yaml:3:"), "{p:?}");
    let p = problems("name: x\nsteps:\n  - up: {}\n  - reboot: ha\n");
    assert!(p[0].contains("unknown variant `reboot`"), "{p:?}");
    assert!(p[0].contains("a step is one of"), "{p:?}");
    let p = problems("name: x\nsurprise: 1\nsteps: []\n");
    assert!(p[0].contains("unknown field `surprise`"), "{p:?}");
}

#[test]
fn wrong_types_are_refused() {
    let p = problems("name: x\nsteps:\n  - up: {webapps: many}\n");
    assert_eq!(
        p,
        ["t.yaml:3:19: steps[0].up.webapps: got string \"many\", expected a whole number from 0 to 4294967295"]
    );
    // Rust's type names never reach the user.
    for (text, said) in [
        (
            "name: x\nstage: 300\nsteps: []\n",
            "stage: out of range: integer `300`, expected a whole number from 0 to 255",
        ),
        (
            "name: x\nsteps: [up: 3]\n",
            "steps[0].up: got integer `3`, expected a map such as {webapps: 2}",
        ),
        (
            "name: x\nsteps: [wait: {seconds: x}]\n",
            "expected a number (e.g. 1.5)",
        ),
        (
            "name: x\nsteps: [expect: {members: -1}]\n",
            "expected a whole number, 0 or more",
        ),
        (
            "name: x\nsteps: [http: {expect_status: 99999}]\n",
            "expected a whole number from 0 to 65535",
        ),
        (
            "- a\n",
            "expected a scenario: a map with `name` and `steps`",
        ),
    ] {
        let p = problems(text);
        assert!(p[0].contains(said), "{text}: {p:?}");
        assert!(
            !p[0].contains("struct ") && !p[0].contains("expected u"),
            "{p:?}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let s = parse(
        "bom.yaml",
        "\u{feff}name: x\nsteps:\n  - up: {webapps: 1}\n",
    )
    .unwrap();
    assert_eq!(s.name, "x");
}

#[test]
fn only_small_regular_files_are_read() {
    let dir = std::env::temp_dir().join(format!("labctl-scenario-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    std::fs::write(&big, vec![b'#'; (MAX_FILE + 1) as usize]).unwrap();
    assert!(read(&big).unwrap_err().contains("larger than 1024 KiB"));
    let fit = dir.join("fit.yaml");
    std::fs::write(&fit, "name: x\n").unwrap();
    assert_eq!(read(&fit).unwrap(), "name: x\n");
    assert!(read(&dir).unwrap_err().contains("is a folder"));
    assert!(read(std::path::Path::new("/dev/zero"))
        .unwrap_err()
        .contains("is not a regular file"));
    let latin1 = dir.join("latin1.yaml");
    std::fs::write(&latin1, b"name: caf\xe9\n").unwrap();
    assert!(read(&latin1).unwrap_err().contains("not UTF-8"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn whole_file_problems_point_at_their_key() {
    let p = problems("# a scenario\nname: bad/name\nstage: 9\nsteps:\n  - up: {webapps: 1}\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("t.yaml:3:1: "), "{}", p[0]);
    assert!(
        p[1].starts_with("t.yaml:2:1: scenario name `bad/name`"),
        "{}",
        p[1]
    );
}

#[test]
fn an_unknown_capture_item_is_not_told_the_step_kinds() {
    let p = problems(
        "name: x\nstage: 6\nsteps:\n  - up: {webapps: 1}\n  - snapshot: {name: a, capture: [screenshot]}\n",
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].contains("unknown variant `screenshot`"), "{}", p[0]);
    assert!(!p[0].contains("a step is one of"), "{}", p[0]);
}

#[test]
fn every_semantic_problem_is_reported_at_its_step() {
    let p = problems(
        "name: x\nstage: 1\nsteps:\n  - up: {webapps: 1}\n  - stop: s2\n  - kill: db\n  - wait: {}\n  - expect: {members: 1}\n  - snapshot: {name: a}\n  - snapshot: {name: a}\n",
    );
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(
        p[0].starts_with(
            "t.yaml:5:3: step 2 (`stop`): unknown node `s2`: at this step the lab has ha, s1"
        ),
        "{}",
        p[0]
    );
    assert!(
        p[1].starts_with("t.yaml:6:3: step 3 (`kill`): unknown node `db`"),
        "{}",
        p[1]
    );
    assert!(
        p[2].starts_with("t.yaml:7:3: step 4 (`wait`): give exactly one"),
        "{}",
        p[2]
    );
    assert!(
        p[3].contains("step 5 (`expect`): `members` needs Serf"),
        "{}",
        p[3]
    );
    assert!(
        p[4].starts_with("t.yaml:10:3: step 7 (`snapshot`): snapshot name `a` is used twice"),
        "{}",
        p[4]
    );
}

#[test]
fn a_scenario_must_start_with_up() {
    let p = problems("name: x\nsteps:\n  - start: s1\n");
    assert!(p[0].contains("the first step must be `up`"), "{p:?}");
}

#[test]
fn crlf_files_parse() {
    assert!(problems("name: x\r\nsteps:\r\n  - up: {}\r\n").is_empty());
}
