//! Fixtures for the orchestration tests: a lab on a fresh in-memory
//! runtime, and quiet progress.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use labctl::lab::{Lab, Publish, UpRequest};
use labctl::naming::LabNames;
use labctl::output::Progress;
use labctl::runtime::fake::FakeRuntime;
use labctl::stage::FINAL;

pub const WAIT: Option<Duration> = Some(Duration::from_secs(5));

pub fn quiet() -> Progress {
    Progress::new(true)
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A lab on a fresh fake runtime. Lab names are unique per test: the lock
/// file of a lab is shared by every process on the machine.
pub fn lab(name: &str) -> (Arc<FakeRuntime>, Lab) {
    let fake = Arc::new(FakeRuntime::new());
    let lab = Lab::new(fake.clone(), LabNames::new(name).unwrap());
    (fake, lab)
}

pub fn request(names: &LabNames, webapps: Option<u32>) -> UpRequest {
    UpRequest {
        subnet: None,
        publish: Publish::defaults(names, IpAddr::from([127, 0, 0, 1]), None, None),
        webapps,
        stage: FINAL,
        foreign: None,
    }
}

pub fn up(lab: &Lab, webapps: Option<u32>) -> anyhow::Result<(u32, Option<Duration>)> {
    rt().block_on(lab.up_and_wait(&request(lab.names(), webapps), WAIT, &quiet()))
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// The changes the fake saw since `from`.
pub fn changes_since(fake: &FakeRuntime, from: usize) -> Vec<String> {
    fake.changes()[from..].to_vec()
}
