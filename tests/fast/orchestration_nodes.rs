//! The lab's orchestration against the in-memory runtime, continued:
//! nodes started, stopped and killed, `down`, the lock, every lab at once.
//! No Docker Engine is needed, and none is reached.

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{changes_since, lab, quiet, request, rt, strings, up, WAIT};
use labctl::lab::Lab;
use labctl::labels;
use labctl::lock::{lab_lock_path, FileLock};
use labctl::naming::LabNames;
use labctl::runtime::fake::FakeRuntime;
use labctl::runtime::{ContainerState, Runtime};

#[test]
fn start_node_starts_a_stopped_node_or_creates_a_new_webapp() {
    let (fake, lab) = lab("o-start");
    up(&lab, None).unwrap();
    rt().block_on(lab.stop_node("s1", 10, &quiet())).unwrap();
    assert_eq!(
        fake.container("o-start-s1").unwrap().state,
        ContainerState::Exited
    );
    rt().block_on(lab.start_node("s1", &quiet())).unwrap();
    assert_eq!(
        fake.container("o-start-s1").unwrap().state,
        ContainerState::Running
    );
    rt().block_on(lab.start_node("s7", &quiet())).unwrap();
    let s7 = fake.spec("o-start-s7").unwrap();
    assert_eq!(s7.labels[labels::NODE], "s7");
    assert!(fake.container("o-start-s7").unwrap().state.is_running());
}

#[test]
fn unknown_nodes_are_refused_with_the_nodes_the_lab_has() {
    let (_fake, lab) = lab("o-unknown");
    up(&lab, None).unwrap();
    let err = rt().block_on(lab.start_node("web1", &quiet())).unwrap_err();
    assert_eq!(err.to_string(), "no node `web1` in lab `o-unknown`");
    let err = rt()
        .block_on(lab.kill_node("s9", "SIGKILL", &quiet()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no node `s9` in lab `o-unknown`; its nodes are: ha, s1, s2"
    );
}

#[test]
fn a_killed_node_is_exited_and_the_lab_starts_it_again_on_up() {
    let (fake, lab) = lab("o-kill");
    up(&lab, None).unwrap();
    rt().block_on(lab.kill_node("s2", "SIGKILL", &quiet()))
        .unwrap();
    assert_eq!(
        rt().block_on(lab.running_webapps()).unwrap(),
        strings(&["s1"])
    );
    up(&lab, None).unwrap();
    assert_eq!(
        rt().block_on(lab.running_webapps()).unwrap(),
        strings(&["s1", "s2"])
    );
    assert!(fake
        .changes()
        .contains(&"kill o-kill-s2 SIGKILL".to_string()));
}

#[test]
fn down_removes_the_lab_and_nothing_else() {
    let fake = Arc::new(FakeRuntime::new());
    let mine = Lab::new(fake.clone(), LabNames::new("o-down").unwrap());
    let other = Lab::new(fake.clone(), LabNames::new("o-down2").unwrap());
    fake.add_foreign_container("o-down-unrelated");
    up(&mine, Some(3)).unwrap();
    up(&other, None).unwrap();
    let removed = rt().block_on(mine.down(&quiet())).unwrap();
    assert_eq!(
        removed,
        [
            "o-down-ha",
            "o-down-s1",
            "o-down-s2",
            "o-down-s3",
            "network o-down-heig"
        ]
    );
    assert_eq!(
        fake.container_names(),
        ["o-down-unrelated", "o-down2-ha", "o-down2-s1", "o-down2-s2"]
    );
    assert_eq!(fake.network_names(), ["o-down2-heig"]);
    // Nothing left: a second `down` removes nothing and succeeds.
    assert_eq!(
        rt().block_on(mine.down(&quiet())).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn two_labs_get_their_own_subnets_and_ports() {
    let fake = Arc::new(FakeRuntime::new());
    let a = Lab::new(fake.clone(), LabNames::new("o-twoa").unwrap());
    let b = Lab::new(fake.clone(), LabNames::new("o-twob").unwrap());
    up(&a, None).unwrap();
    up(&b, None).unwrap();
    let port = |lab: &Lab| rt().block_on(lab.ha_port(80)).unwrap();
    assert_ne!(port(&a), port(&b));
    assert_eq!(
        fake.spec("o-twob-ha").unwrap().ip.to_string(),
        "192.168.44.42"
    );
}

#[test]
fn a_network_the_engine_keeps_fails_down_but_up_still_works() {
    let (fake, lab) = lab("o-stuck");
    up(&lab, None).unwrap();
    fake.keep_network("o-stuck-heig");
    let err = format!("{:#}", rt().block_on(lab.down(&quiet())).unwrap_err());
    assert!(
        err.starts_with(
            "lab `o-stuck` is down but its network `o-stuck-heig` is left (removed o-stuck-ha, \
             o-stuck-s1, o-stuck-s2): removing network `o-stuck-heig`: the engine still lists \
             endpoints on it"
        ),
        "{err}"
    );
    assert!(err.contains("restart of the Docker daemon"), "{err}");
    assert_eq!(fake.container_names(), Vec::<String>::new());
    // The network is the lab's own: `up` uses it as it is.
    let before = fake.changes().len();
    up(&lab, None).unwrap();
    assert!(!changes_since(&fake, before)
        .iter()
        .any(|c| c.starts_with("create network")));
    assert_eq!(fake.container_names().len(), 3);
}

#[test]
fn a_busy_lab_is_waited_for_and_the_holder_is_named() {
    let (fake, lab) = lab("o-locked");
    let lab = lab.with_lock_timeout(Duration::from_millis(300));
    let held = FileLock::try_acquire(
        &lab_lock_path(fake.engine_id(), "o-locked"),
        "process 4242 (`labctl scale webapp=9`)",
    )
    .unwrap()
    .expect("the lock is free");
    let err = up(&lab, None).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "lab `o-locked` stayed busy for 0 s: process 4242 (`labctl scale webapp=9`) holds \
             its lock"
        ),
        "{err}"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
    drop(held);
    up(&lab, None).unwrap();
}

#[test]
fn operations_run_under_a_held_lock_enter_it_again() {
    let (fake, lab) = lab("o-reenter");
    let lab = lab.with_lock_timeout(Duration::from_millis(300));
    rt().block_on(async {
        let _guard = lab.lock(&quiet()).await.unwrap();
        lab.up_and_wait(&request(lab.names(), None), WAIT, &quiet())
            .await
            .unwrap();
        lab.scale_to(3, Duration::from_secs(5), &quiet())
            .await
            .unwrap();
        // Another process (another handle on the file) must wait meanwhile.
        assert!(
            FileLock::try_acquire(&lab_lock_path(fake.engine_id(), "o-reenter"), "x")
                .unwrap()
                .is_none()
        );
    });
    // Released with the last guard.
    assert!(
        FileLock::try_acquire(&lab_lock_path(fake.engine_id(), "o-reenter"), "x")
            .unwrap()
            .is_some()
    );
}

#[test]
fn the_fake_answers_for_the_nodes_as_a_healthy_lab_does() {
    let (fake, lab) = lab("o-answers");
    up(&lab, Some(3)).unwrap();
    rt().block_on(async {
        assert_eq!(lab.registry().await.unwrap(), strings(&["s1", "s2", "s3"]));
        let members = lab.members().await.unwrap();
        assert_eq!(members.len(), 4);
        let backends = lab.backends().await.unwrap();
        assert!(labctl::lab::converged(
            &backends.servers,
            &strings(&["s1", "s2", "s3"])
        ));
        let out = fake.exec("o-answers-s1", &["true"]).await.unwrap();
        assert_eq!(out.code, 127);
    });
}

#[test]
fn every_lab_is_listed_and_down_all_removes_them_and_nothing_else() {
    let fake = Arc::new(FakeRuntime::new());
    let a = Lab::new(fake.clone(), LabNames::new("o-alla").unwrap());
    let b = Lab::new(fake.clone(), LabNames::new("o-allb").unwrap());
    fake.add_foreign_container("unrelated");
    fake.add_foreign_network("bridge9", "10.99.0.0/24".parse().unwrap());
    up(&a, Some(3)).unwrap();
    up(&b, None).unwrap();
    rt().block_on(b.stop_node("s2", 10, &quiet())).unwrap();
    let labs = rt().block_on(labctl::lab::labs(fake.as_ref())).unwrap();
    let seen: Vec<(String, usize, usize, bool, Option<String>)> = labs
        .iter()
        .map(|l| {
            (
                l.lab.clone(),
                l.webapps,
                l.running,
                l.ha_running,
                l.subnet.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "o-alla".to_string(),
                3,
                3,
                true,
                Some("192.168.43.0/24".to_string())
            ),
            (
                "o-allb".to_string(),
                2,
                1,
                true,
                Some("192.168.44.0/24".to_string())
            ),
        ]
    );
    assert!(labs[0]
        .http
        .as_deref()
        .is_some_and(|h| h.starts_with("127.0.0.1:")));
    assert_eq!(labs[0].stage.as_deref(), Some("6"));
    let runtime: Arc<dyn Runtime> = fake.clone();
    let results = rt()
        .block_on(labctl::lab::down_all(&runtime, &quiet()))
        .unwrap();
    let names: Vec<&str> = results.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(names, ["o-alla", "o-allb"]);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(fake.container_names(), ["unrelated"]);
    assert_eq!(fake.network_names(), ["bridge9"]);
}
