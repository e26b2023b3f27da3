//! The lab on a Swarm whose nodes pull the lab's images from a registry, on
//! real engines: a local 2-node cluster with its own registry (Debian's
//! docker-registry), the images pushed there once, each service pinned to
//! the digest the registry holds, every node pulling it; nothing left by
//! `down` and `cluster down`.

use std::collections::BTreeSet;

use crate::common::swarm::{lines, TestCluster};

const CLUSTER: &str = "t-reg";
const API_PORT: u16 = 23791;
const HTTP_PORT: u16 = 28111;
const REGISTRY: &str = "192.168.146.10:5000";

#[test]
fn the_nodes_pull_the_lab_from_the_cluster_s_registry() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let c = TestCluster {
        name: CLUSTER,
        subnet: "192.168.146.0/24",
        api_port: API_PORT,
        http_port: HTTP_PORT,
        stats_port: 28967,
    };
    let volumes_before = lines(&c.docker(false, &["volume", "ls", "-q"]));
    let out = c.up(2, &["--registry", "--registry-port", "25010"]);
    assert!(
        out.contains(&format!("labctl up --engine swarm --registry {REGISTRY}")),
        "{out}"
    );
    // The nodes hold none of the lab's images: without the registry, `up`
    // says what to do and leaves nothing behind.
    for node in ["192.168.146.11", "192.168.146.12"] {
        let engine = format!("tcp://{node}:2375");
        let images = c.docker(
            false,
            &["-H", &engine, "images", "--format", "{{.Repository}}"],
        );
        assert!(!images.contains("labctl/"), "{node}: {images}");
    }
    let refused = c.labctl(true, &["up", "--engine", "swarm"]);
    let (_, stderr) = crate::common::text(&refused);
    assert!(!refused.status.success());
    assert!(stderr.contains("--registry HOST:PORT"), "{stderr}");
    assert!(c.docker(true, &["service", "ls", "-q"]).trim().is_empty());
    let bad = c.labctl(
        true,
        &["up", "--engine", "swarm", "--registry", "http://x:5000"],
    );
    let (_, stderr) = crate::common::text(&bad);
    assert!(!bad.status.success());
    assert!(stderr.contains("without a scheme"), "{stderr}");

    c.ok(
        true,
        &["up", "--engine", "swarm", "--registry", REGISTRY, "-n", "4"],
    );
    let images = c.docker(
        true,
        &[
            "service",
            "inspect",
            "ha",
            "webapp",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ],
    );
    for (line, role) in images.lines().zip(["ha", "webapp"]) {
        assert!(
            line.starts_with(&format!("{REGISTRY}/labctl/{role}@sha256:")),
            "{images}"
        );
    }
    let placed = c.placement();
    assert_eq!(placed.len(), 5, "{placed:?}");
    let hosts: BTreeSet<&String> = placed.values().collect();
    assert_eq!(hosts.len(), 2, "the tasks ran on one node: {placed:?}");
    assert!(c.haproxy().values().all(|s| s == "UP"), "{:?}", c.haproxy());
    // node2 pulled the web app from the registry.
    let pulled = c.docker(
        false,
        &[
            "-H",
            "tcp://192.168.146.12:2375",
            "images",
            "--format",
            "{{.Repository}}",
        ],
    );
    assert!(
        pulled.contains(&format!("{REGISTRY}/labctl/webapp")),
        "{pulled}"
    );
    let mut answered = BTreeSet::new();
    for _ in 0..20 {
        let (code, body) = crate::common::get(HTTP_PORT).expect("GET / through ha");
        assert_eq!(code, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        answered.insert(doc["tag"].as_str().unwrap().to_string());
    }
    assert_eq!(answered.len(), 4, "{answered:?}");

    c.assert_all_removed(&volumes_before);
}
