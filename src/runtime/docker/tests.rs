//! What the engine's refusals are taken to mean.

use super::*;

fn answered(status_code: u16, message: &str) -> DockerError {
    DockerError::DockerResponseServerError {
        status_code,
        message: message.to_string(),
    }
}

fn refusal(e: &DockerError) -> Option<Refusal> {
    network_refusal(e).downcast::<Refusal>().ok()
}

#[test]
fn network_refusals_of_docker_and_podman_are_told_apart() {
    let docker_overlap = answered(403, "Pool overlaps with other one on this address space");
    assert!(matches!(
        refusal(&docker_overlap),
        Some(Refusal::Overlaps(_))
    ));
    let podman_overlap = answered(
        500,
        "subnet 192.168.42.0/24 is already used on the host or by another config",
    );
    assert!(matches!(
        refusal(&podman_overlap),
        Some(Refusal::Overlaps(_))
    ));
    let docker_taken = answered(409, "network with name heig already exists");
    assert!(matches!(
        refusal(&docker_taken),
        Some(Refusal::AlreadyExists(_))
    ));
    let podman_taken = answered(
        500,
        "network name heig already used: network already exists",
    );
    assert!(matches!(
        refusal(&podman_taken),
        Some(Refusal::AlreadyExists(_))
    ));
    assert!(refusal(&answered(500, "no space left on device")).is_none());
}
