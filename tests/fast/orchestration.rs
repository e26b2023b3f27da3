//! The lab's orchestration against the in-memory runtime: `up`, `scale`,
//! `down`, nodes started and stopped, the lock, refusals and timeout
//! messages. No Docker Engine is needed, and none is reached: these run
//! with `DOCKER_HOST` pointing nowhere, in well under a second.

use std::time::Duration;

use crate::fake::{changes_since, lab, quiet, request, rt, up, WAIT};
use labctl::labels;
use labctl::stage::Stage;

#[test]
fn up_on_an_empty_engine_creates_the_network_ha_and_two_webapps() {
    let (fake, lab) = lab("o-up");
    let (webapps, took) = up(&lab, None).unwrap();
    assert_eq!(webapps, 2);
    assert!(took.is_some());
    assert_eq!(fake.network_names(), ["o-up-heig"]);
    assert_eq!(fake.container_names(), ["o-up-ha", "o-up-s1", "o-up-s2"]);
    let changes = fake.changes();
    assert_eq!(changes[0], "create network o-up-heig 192.168.43.0/24");
    for name in ["o-up-ha", "o-up-s1", "o-up-s2"] {
        assert!(changes.contains(&format!("create {name}")), "{changes:?}");
        assert!(changes.contains(&format!("start {name}")), "{changes:?}");
    }
    let ha = fake.spec("o-up-ha").unwrap();
    assert_eq!(ha.ip.to_string(), "192.168.43.42");
    assert_eq!(ha.labels[labels::ROLE], "balancer");
    assert!(ha
        .env
        .contains(&"STATIC_SERVERS=s1=192.168.43.11 s2=192.168.43.22".to_string()));
    // `ha` joins the web apps starting with it.
    assert!(ha
        .env
        .contains(&"SERF_JOIN=192.168.43.11 192.168.43.22".to_string()));
    let s2 = fake.spec("o-up-s2").unwrap();
    assert_eq!(s2.ip.to_string(), "192.168.43.22");
    assert!(s2.env.contains(&"SERF_JOIN=192.168.43.42".to_string()));
    // Every node shares the lab's Serf key, kept on its network.
    let key = |env: &[String]| {
        env.iter()
            .find(|e| e.starts_with("SERF_ENCRYPT_KEY="))
            .cloned()
    };
    assert!(key(&ha.env).is_some());
    assert_eq!(key(&ha.env), key(&s2.env));
}

#[test]
fn up_again_changes_nothing() {
    let (fake, lab) = lab("o-again");
    up(&lab, None).unwrap();
    let before = fake.changes().len();
    assert_eq!(up(&lab, None).unwrap().0, 2);
    assert_eq!(changes_since(&fake, before), Vec::<String>::new());
}

#[test]
fn up_observes_the_lab_once() {
    let (fake, lab) = lab("o-once");
    up(&lab, Some(3)).unwrap();
    let before = fake.listings();
    rt().block_on(lab.up(&request(lab.names(), None), &quiet()))
        .unwrap();
    assert_eq!(fake.listings() - before, 1);
}

#[test]
fn up_keeps_the_size_of_a_lab_that_is_up_and_starts_its_stopped_nodes() {
    let (fake, lab) = lab("o-keep");
    up(&lab, Some(4)).unwrap();
    rt().block_on(lab.stop_node("s3", 10, &quiet())).unwrap();
    let before = fake.changes().len();
    assert_eq!(up(&lab, None).unwrap().0, 4);
    assert_eq!(changes_since(&fake, before), ["start o-keep-s3"]);
    assert_eq!(
        fake.container_names(),
        [
            "o-keep-ha",
            "o-keep-s1",
            "o-keep-s2",
            "o-keep-s3",
            "o-keep-s4"
        ]
    );
}

#[test]
fn up_refuses_a_container_that_is_not_the_labs_and_creates_nothing() {
    let (fake, lab) = lab("o-foreign");
    fake.add_foreign_container("o-foreign-s2");
    let err = up(&lab, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a container named `o-foreign-s2` exists that is not part of lab `o-foreign`; labctl \
         leaves it alone: remove or rename it (`docker rm -f o-foreign-s2`), or run the lab \
         under another name with `--lab NAME`"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
    assert_eq!(fake.container_names(), ["o-foreign-s2"]);
}

#[test]
fn up_refuses_a_network_of_the_labs_name_that_is_not_its_own() {
    let (fake, lab) = lab("o-net");
    fake.add_foreign_network("o-net-heig", "10.9.0.0/24".parse().unwrap());
    let err = up(&lab, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a network named `o-net-heig` exists that labctl did not create; remove it \
         (`docker network rm o-net-heig`) or run another lab with `--lab NAME`"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
}

#[test]
fn a_taken_host_port_leaves_nothing_behind_and_names_the_options() {
    let (fake, lab) = lab("o-port");
    // Free on this host, taken on the (fake) engine's.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fake.take_host_port(port);
    let mut req = request(lab.names(), None);
    req.publish.http = port;
    let err = rt()
        .block_on(lab.up_and_wait(&req, WAIT, &quiet()))
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.starts_with(
            "a host port of the lab is taken; choose others with --http-port and --stats-port"
        ),
        "{text}"
    );
    assert!(text.contains("port is already allocated"), "{text}");
    assert_eq!(fake.container_names(), Vec::<String>::new());
    assert_eq!(fake.network_names(), Vec::<String>::new());
}

#[test]
fn a_lab_that_is_up_keeps_its_stage_and_subnet() {
    let (_fake, lab) = lab("o-stage");
    up(&lab, None).unwrap();
    let mut req = request(lab.names(), None);
    req.stage = Stage::new(4).unwrap();
    let err = rt().block_on(lab.up(&req, &quiet())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lab `o-stage` runs stage 6; run `labctl down` first to start it at stage 4"
    );
    let mut req = request(lab.names(), None);
    req.subnet = Some("10.1.2.0/24".parse().unwrap());
    let err = rt().block_on(lab.up(&req, &quiet())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lab `o-stage` already runs on subnet 192.168.43.0/24; run `labctl down` first to \
         move it to 10.1.2.0/24"
    );
}

#[test]
fn a_subnet_lost_to_another_lab_at_the_same_moment_is_replaced_by_the_next_free_one() {
    let (fake, lab) = lab("o-race");
    fake.lose_race_for("192.168.43.0/24".parse().unwrap());
    up(&lab, None).unwrap();
    assert_eq!(
        fake.changes()[0],
        "create network o-race-heig 192.168.44.0/24"
    );
    assert_eq!(
        fake.spec("o-race-ha").unwrap().ip.to_string(),
        "192.168.44.42"
    );
}

#[test]
fn a_named_subnet_that_overlaps_another_network_is_refused() {
    let (fake, lab) = lab("o-overlap");
    fake.add_foreign_network("bridge2", "10.20.0.0/16".parse().unwrap());
    let mut req = request(lab.names(), None);
    req.subnet = Some("10.20.5.0/24".parse().unwrap());
    let err = rt().block_on(lab.up(&req, &quiet())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "subnet 10.20.5.0/24 overlaps network `bridge2` (10.20.0.0/16); choose another with --subnet"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
}

#[test]
fn more_webapps_than_the_subnet_holds_are_refused_before_anything_is_created() {
    let (fake, lab) = lab("o-full");
    let mut req = request(lab.names(), Some(200));
    req.subnet = Some("10.30.0.0/26".parse().unwrap());
    let err = rt().block_on(lab.up(&req, &quiet())).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("subnet 10.30.0.0/26 holds at most"),
        "{err}"
    );
    assert!(err.to_string().ends_with("web apps, not 200"), "{err}");
    assert_eq!(fake.changes(), Vec::<String>::new());
}

#[test]
fn more_webapps_than_the_kernels_neighbour_table_holds_are_refused_with_the_fix() {
    let (fake, lab) = lab("o-arp");
    fake.set_neighbour_limit(1024);
    // Too many to start with: nothing is created.
    let err = rt()
        .block_on(lab.up(&request(lab.names(), Some(50)), &quiet()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("lab `o-arp` cannot run 50 web apps on this host: 50 web apps fill about 2614 entries of the kernel's neighbour table, which holds 1024"),
        "{err}"
    );
    assert!(
        err.contains("`sudo sysctl -w net.ipv4.neigh.default.gc_thresh3=8192 "),
        "{err}"
    );
    let err = rt()
        .block_on(lab.up(&request(lab.names(), Some(300)), &quiet()))
        .unwrap_err();
    assert!(
        err.to_string().contains("holds at most 252 web apps"),
        "{err}"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
    // As many as the table holds: up, then refused past it, untouched.
    up(&lab, Some(30)).unwrap();
    let before = fake.changes().len();
    let err = rt()
        .block_on(lab.scale_to(31, Duration::from_secs(5), &quiet()))
        .unwrap_err();
    assert!(err.to_string().contains("room for 30 web apps"), "{err}");
    // What the subnet cannot hold is said first: no host setting lifts it.
    let err = rt()
        .block_on(lab.scale_to(300, Duration::from_secs(5), &quiet()))
        .unwrap_err();
    assert!(
        err.to_string().contains("holds at most 252 web apps"),
        "{err}"
    );
    assert_eq!(changes_since(&fake, before), Vec::<String>::new());
    // Scaling down is never refused; back up within the room neither.
    rt().block_on(lab.scale_to(3, Duration::from_secs(5), &quiet()))
        .unwrap();
    rt().block_on(lab.scale_to(30, Duration::from_secs(5), &quiet()))
        .unwrap();
}

#[test]
fn scale_up_adds_webapps_at_the_lowest_free_addresses() {
    let (fake, lab) = lab("o-scaleup");
    up(&lab, None).unwrap();
    let before = fake.changes().len();
    rt().block_on(lab.scale_to(4, Duration::from_secs(5), &quiet()))
        .unwrap();
    let mut changes = changes_since(&fake, before);
    changes.sort();
    assert_eq!(
        changes,
        [
            "create o-scaleup-s3",
            "create o-scaleup-s4",
            "start o-scaleup-s3",
            "start o-scaleup-s4"
        ]
    );
    // .11 and .22 are s1's and s2's; s3 and s4 take the lowest free ones.
    assert_eq!(
        fake.spec("o-scaleup-s3").unwrap().ip.to_string(),
        "192.168.43.2"
    );
    assert_eq!(
        fake.spec("o-scaleup-s4").unwrap().ip.to_string(),
        "192.168.43.3"
    );
}

#[test]
fn scale_down_makes_the_highest_leave_first_then_removes_them() {
    let (fake, lab) = lab("o-scaledown");
    up(&lab, Some(5)).unwrap();
    let before = fake.changes().len();
    rt().block_on(lab.scale_to(2, Duration::from_secs(5), &quiet()))
        .unwrap();
    let changes = changes_since(&fake, before);
    // Each removed web app leaves the cluster before it is stopped, and
    // the leaves are asked highest number first.
    let leaves: Vec<&String> = changes.iter().filter(|c| c.starts_with("leave")).collect();
    assert_eq!(
        leaves[..3],
        [
            "leave o-scaledown-s5",
            "leave o-scaledown-s4",
            "leave o-scaledown-s3"
        ]
    );
    for n in 3..=5 {
        let at = |what: &str| {
            changes
                .iter()
                .position(|c| c == &format!("{what} o-scaledown-s{n}"))
                .unwrap_or_else(|| panic!("no `{what}` of s{n} in {changes:?}"))
        };
        assert!(at("leave") < at("stop"));
        assert!(at("stop") < at("remove"));
    }
    assert_eq!(
        fake.container_names(),
        ["o-scaledown-ha", "o-scaledown-s1", "o-scaledown-s2"]
    );
}

#[test]
fn scale_on_a_lab_that_is_not_up_says_how_to_start_it() {
    let (fake, lab) = lab("o-notup");
    let err = rt().block_on(lab.scale(3, &quiet())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lab `o-notup` is not up; start it with `labctl up`"
    );
    assert_eq!(fake.changes(), Vec::<String>::new());
}

#[test]
fn a_webapp_that_never_comes_up_times_out_with_the_reason_and_its_logs() {
    let (fake, lab) = lab("o-timeout");
    fake.never_up("s2");
    let err = rt()
        .block_on(lab.up_and_wait(
            &request(lab.names(), None),
            Some(Duration::from_millis(400)),
            &quiet(),
        ))
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "lab `o-timeout` did not converge within 0 s",
            "`s2` is DOWN in HAProxy",
            "last logs of `s2`:",
            "    o-timeout-s2 started",
            "`labctl status` shows the lab's state; run the command again to keep waiting",
        ]
    );
}

#[test]
fn a_webapp_missing_from_haproxy_is_named_as_such() {
    let (fake, lab) = lab("o-missing");
    up(&lab, None).unwrap();
    rt().block_on(lab.leave_node("s1"));
    let err = rt()
        .block_on(lab.wait_converged(2, Duration::from_millis(300), &quiet()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`s1` is not in HAProxy's configuration (not a Serf member yet?)"),
        "{err}"
    );
    assert!(!err.contains("`s2`"), "{err}");
    assert!(fake.container("o-missing-s1").is_some());
}
