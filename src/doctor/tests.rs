//! The doctor's verdicts, from what the probes found.

use super::*;

fn facts() -> BaseFacts {
    BaseFacts {
        base: "debian:bookworm-slim".into(),
        is_default: true,
        present: false,
        made_present: false,
        pull_error: Some("no registry".into()),
        debootstrap: false,
        root: true,
    }
}

#[test]
fn no_base_and_no_debootstrap_names_the_package() {
    let c = base_check(&facts());
    assert_eq!(c.level, Level::Fail);
    assert_eq!(
        c.found,
        "`debian:bookworm-slim` cannot be pulled (no registry) and debootstrap, which would make it, is not installed"
    );
    assert!(c
        .fix
        .unwrap()
        .starts_with("install debootstrap (`apt-get install debootstrap`)"));
    let with = base_check(&BaseFacts {
        debootstrap: true,
        ..facts()
    });
    assert_eq!(with.level, Level::Note);
    let not_root = base_check(&BaseFacts {
        debootstrap: true,
        root: false,
        ..facts()
    });
    assert_eq!(not_root.level, Level::Fail);
    assert!(not_root.fix.unwrap().contains("sudo labctl build"));
    let made = base_check(&BaseFacts {
        made_present: true,
        ..facts()
    });
    assert_eq!(made.level, Level::Ok);
    let other = base_check(&BaseFacts {
        base: "my/base:1".into(),
        is_default: false,
        made_present: true,
        ..facts()
    });
    assert_eq!(other.level, Level::Fail);
}

#[test]
fn little_disk_fails_and_a_remote_disk_is_not_checked() {
    assert_eq!(
        disk_check("/var/lib/docker", Some(500_000_000)).level,
        Level::Fail
    );
    assert_eq!(
        disk_check("/var/lib/docker", Some(DISK_NEEDED)).level,
        Level::Ok
    );
    assert_eq!(disk_check("/var/lib/docker", None).level, Level::Note);
}

#[test]
fn a_taken_subnet_is_named_but_the_labs_own_network_is_not() {
    let names = LabNames::new("heig").unwrap();
    let net = |name: &str, s: &str| NetworkInfo {
        name: name.into(),
        labels: Default::default(),
        subnets: vec![s.parse().unwrap()],
    };
    let c = subnet_check(&names, None, &[net("other", "192.168.0.0/16")]);
    assert_eq!(c.level, Level::Fail);
    assert_eq!(c.found, "192.168.42.0/24 overlaps network `other`");
    let own = subnet_check(&names, None, &[net("heig", "192.168.42.0/24")]);
    assert_eq!(own.level, Level::Ok);
    let demo = LabNames::new("demo").unwrap();
    let free = subnet_check(&demo, None, &[net("x", "192.168.43.0/24")]);
    assert_eq!(free.found, "192.168.44.0/24 is free for lab `demo`");
}

#[test]
fn the_neighbour_table_says_how_many_web_apps_fit_and_how_to_make_room() {
    let c = neighbour_check(Some(1024));
    assert_eq!(c.level, Level::Note);
    assert_eq!(
        c.found,
        "net.ipv4.neigh.default.gc_thresh3 = 1024: room for 30 web apps in one lab"
    );
    assert!(c
        .fix
        .unwrap()
        .starts_with("for 100: sudo sysctl -w net.ipv4.neigh.default.gc_thresh3=32768 "));
    let c = neighbour_check(Some(32768));
    assert_eq!((c.level, c.fix), (Level::Ok, None));
    assert!(
        c.found.ends_with("room for 180 web apps in one lab"),
        "{}",
        c.found
    );
    assert_eq!(neighbour_check(None).level, Level::Note);
}

#[test]
fn multi_host_says_how_services_are_published() {
    let c = multi_host_check("inactive", Some((true, false)));
    assert_eq!(
        c.found,
        "Swarm inactive; VXLAN present (overlay networks work); IPVS missing (no routing mesh or virtual IPs: services are published on each node's own ports)"
    );
    assert!(healthy(&[c]));
    // An engine elsewhere whose host could not be probed: not this
    // machine's modules in their place.
    let c = multi_host_check("active", None);
    assert_eq!(
        c.found,
        "Swarm active; VXLAN and IPVS not read: the engine's host could not be probed (see the lines above)"
    );
    assert_eq!(c.level, Level::Note);
}
