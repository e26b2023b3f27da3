//! The lab's claim on the engine, which keeps apart users of one engine
//! on different machines (whose lock files do not meet), against the
//! in-memory runtime: the other machine's claim is planted as that
//! machine's labctl leaves it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::fake::{lab, quiet, rt, up};
use labctl::labels;
use labctl::lock::{lab_claim_name, HOLDER};
use labctl::runtime::ContainerState;

fn claimed_by(holder: &str) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (HOLDER.to_string(), holder.to_string()),
    ])
}

const BOB: &str = "process 77 of bob (`labctl scale webapp=9`) on laptop-b";

#[test]
fn a_lab_claimed_from_another_machine_is_waited_for_and_its_holder_named() {
    let (fake, lab) = lab("c-other");
    let claim = lab_claim_name("c-other");
    fake.add_claim(&claim, ContainerState::Running, claimed_by(BOB));
    let short = lab.clone().with_lock_timeout(Duration::from_millis(300));
    let err = up(&short, None).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "lab `c-other` stayed busy for 0 s: {BOB} holds its claim on the engine, \
             container `{claim}`"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("`docker rm -f {claim}`")), "{err}");
    assert_eq!(fake.changes(), Vec::<String>::new(), "nothing done");
    // Bob's command ends while this one waits: this one goes on then.
    let gone = fake.clone();
    let bob = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        rt().block_on(labctl::runtime::Runtime::remove_container(&*gone, &claim))
    });
    let started = Instant::now();
    let lab = lab.with_lock_timeout(Duration::from_secs(10));
    up(&lab, None).unwrap();
    bob.join().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(fake.container_names().len(), 3, "ha and two web apps");
}

#[test]
fn the_claim_names_this_machine_while_held_and_goes_with_the_last_guard() {
    let (fake, lab) = lab("c-held");
    let claim = lab_claim_name("c-held");
    rt().block_on(async {
        let guard = lab.lock(&quiet()).await.unwrap();
        let held = fake.container(&claim).expect("a claim on the engine");
        assert!(held.state.is_running());
        let holder = held.label(HOLDER).unwrap();
        assert!(
            holder.starts_with(&format!("process {} of ", std::process::id())),
            "{holder}"
        );
        assert!(holder.contains(" on "), "names the machine: {holder}");
        assert_eq!(held.label(labels::ROLE), Some("lock"));
        assert_eq!(held.label(labels::LAB), None, "not one of the lab's nodes");
        // What runs under the guard enters it: still one claim.
        lab.up_and_wait(&crate::fake::request(lab.names(), None), None, &quiet())
            .await
            .unwrap();
        assert_eq!(fake.container(&claim).unwrap().id, held.id);
        let labs = labctl::lab::labs(&*fake).await.unwrap();
        assert_eq!(labs.len(), 1, "the claim is no lab: {labs:?}");
        assert_eq!(labs[0].webapps, 2);
        drop(guard);
    });
    assert!(fake.container(&claim).is_none(), "released with the guard");
    assert_eq!(fake.container_names().len(), 3);
}

#[test]
fn a_claim_its_holder_left_behind_is_taken_over() {
    // Ended: its holder's connection closed (the engine removes it soon).
    let (fake, ended) = lab("c-ended");
    let claim = lab_claim_name("c-ended");
    fake.add_claim(&claim, ContainerState::Exited, claimed_by(BOB));
    up(&ended.with_lock_timeout(Duration::from_millis(300)), None).unwrap();
    assert!(fake.container(&claim).is_none());
    // Never started: its holder went between creating and starting it.
    let (fake, created) = lab("c-created");
    let claim = lab_claim_name("c-created");
    fake.add_claim(&claim, ContainerState::Created, claimed_by(BOB));
    let short = created
        .clone()
        .with_lock_timeout(Duration::from_millis(300));
    assert!(
        up(&short, None).is_err(),
        "a claim just created is waited for"
    );
    let started = Instant::now();
    up(&created.with_lock_timeout(Duration::from_secs(20)), None).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(fake.container(&claim).is_none());
}

#[test]
fn a_container_of_someone_else_at_the_claims_name_is_refused_and_left_alone() {
    let (fake, lab) = lab("c-foreign");
    let claim = lab_claim_name("c-foreign");
    fake.add_claim(&claim, ContainerState::Exited, HashMap::new());
    let err = up(&lab, None).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "a container that labctl did not make is named `{claim}`"
        )),
        "{err}"
    );
    assert!(err.contains("rename or remove it"), "{err}");
    assert!(fake.container(&claim).is_some(), "not removed");
    assert_eq!(fake.changes(), Vec::<String>::new());
}
