//! The servers of HAProxy's `nodes` backend: read from a configuration, set
//! against the servers the running HAProxy has, and the runtime API steps
//! that turn the one into the other without a reload (pure; no I/O).

use crate::stats::ServerState;

/// The backend whose servers follow the membership.
pub(crate) const BACKEND: &str = "nodes";

/// How long a server taken out of rotation may keep connections before
/// they are shut down so that it can be deleted.
pub(crate) const DRAIN_DEADLINE_S: u64 = 10;

/// One `server` line of the backend, as the configuration writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerLine {
    /// The server's name (the node name).
    pub name: String,
    /// `ip:port`.
    pub addr: String,
    /// The words after the address (`check inter 150ms …`): given as they
    /// are to `add server`, which ignores `default-server`.
    pub options: String,
}

impl ServerLine {
    /// Whether HAProxy health-checks this server.
    pub(crate) fn checked(&self) -> bool {
        self.options.split_whitespace().any(|w| w == "check")
    }
}

/// A configuration taken apart: the backend's servers, and everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// The text without the backend's `server` lines.
    pub skeleton: String,
    /// The backend's servers, in the file's order.
    pub servers: Vec<ServerLine>,
}

/// Keywords that open a section of HAProxy's configuration.
const SECTIONS: [&str; 14] = [
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "program",
    "http-errors",
    "ring",
    "cache",
    "mailers",
    "log-forward",
];

/// Takes a configuration apart into its `nodes` servers and the rest.
pub(crate) fn split(config: &str) -> Split {
    let mut skeleton = String::with_capacity(config.len());
    let mut servers = Vec::new();
    let mut in_backend = false;
    for line in config.split_inclusive('\n') {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if SECTIONS.contains(&first) {
            in_backend =
                matches!(first, "backend" | "listen") && words.clone().next() == Some(BACKEND);
        } else if in_backend && first == "server" {
            if let (Some(name), Some(addr)) = (words.next(), words.next()) {
                servers.push(ServerLine {
                    name: name.to_string(),
                    addr: addr.to_string(),
                    options: words.collect::<Vec<_>>().join(" "),
                });
                continue;
            }
        }
        skeleton.push_str(line);
    }
    Split { skeleton, servers }
}

/// Whether going from configuration `old` to `new` takes a reload: anything
/// changed but servers added, removed or given another address (a template
/// edit, other server options, stats credentials). No `old` (HAProxy has
/// not started yet, and will load `new`) takes none.
pub(crate) fn needs_reload(old: Option<&str>, new: &str) -> bool {
    let Some(old) = old else {
        return false;
    };
    let (old, new) = (split(old), split(new));
    old.skeleton != new.skeleton
        || new.servers.iter().any(|n| {
            old.servers
                .iter()
                .any(|o| o.name == n.name && o.options != n.options)
        })
}

/// One runtime API step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `add server`: the server is created in maintenance, out of rotation.
    Add(ServerLine),
    /// `set server … addr`: a name that came back with another address
    /// (taken out of rotation first).
    Readdress {
        /// The server.
        name: String,
        /// Its new `ip:port`.
        addr: String,
    },
    /// `enable health`: checks run while the server is still in
    /// maintenance, so that it is enabled only once its web app answers.
    EnableHealth(String),
    /// `enable server` once a check has passed (at once for an unchecked
    /// server).
    Enable(String),
    /// `disable server`: out of rotation; requests in flight finish.
    Disable(String),
    /// Nothing to send: the server is in maintenance until a health check
    /// passes (checks run in maintenance too).
    AwaitCheck(String),
    /// `del server`, which HAProxy refuses while connections are attached.
    /// `drained_s`: how long it has been out of rotation already (`None`
    /// when it is taken out in this same pass).
    Delete {
        /// The server.
        name: String,
        /// Seconds since it was taken out of rotation.
        drained_s: Option<u64>,
    },
}

impl Step {
    /// The server the step is about.
    pub(crate) fn server(&self) -> &str {
        match self {
            Step::Add(s) => &s.name,
            Step::Readdress { name, .. }
            | Step::EnableHealth(name)
            | Step::AwaitCheck(name)
            | Step::Enable(name)
            | Step::Disable(name)
            | Step::Delete { name, .. } => name,
        }
    }
}

fn in_maintenance(s: &ServerState) -> bool {
    s.status.starts_with("MAINT")
}

/// The steps that give the running HAProxy (`running`, from its statistics)
/// exactly the servers `wanted`: leaving servers are taken out of rotation
/// and deleted; new ones added in maintenance, checked, and enabled only
/// after a passed check. A pass that cannot finish (a check not passed yet,
/// a deletion refused) is simply planned again on the next pass.
pub(crate) fn plan(wanted: &[ServerLine], running: &[ServerState]) -> Vec<Step> {
    let mut steps = Vec::new();
    for r in running {
        if wanted.iter().any(|w| w.name == r.name) {
            continue;
        }
        let drained_s = if in_maintenance(r) {
            Some(r.last_change_s)
        } else {
            steps.push(Step::Disable(r.name.clone()));
            None
        };
        steps.push(Step::Delete {
            name: r.name.clone(),
            drained_s,
        });
    }
    for w in wanted {
        let Some(r) = running.iter().find(|r| r.name == w.name) else {
            steps.push(Step::Add(w.clone()));
            if w.checked() {
                steps.push(Step::EnableHealth(w.name.clone()));
            } else {
                steps.push(Step::Enable(w.name.clone()));
            }
            continue;
        };
        if r.addr != w.addr {
            if !in_maintenance(r) {
                steps.push(Step::Disable(w.name.clone()));
            }
            steps.push(Step::Readdress {
                name: w.name.clone(),
                addr: w.addr.clone(),
            });
            // Its last check was of the old address.
            if w.checked() {
                steps.push(Step::EnableHealth(w.name.clone()));
            } else {
                steps.push(Step::Enable(w.name.clone()));
            }
        } else if in_maintenance(r) && (!w.checked() || r.check_passed()) {
            steps.push(Step::Enable(w.name.clone()));
        } else if in_maintenance(r) && r.check.is_empty() {
            // Checks are off (a pass stopped after `add server`).
            steps.push(Step::EnableHealth(w.name.clone()));
        } else if in_maintenance(r) {
            steps.push(Step::AwaitCheck(w.name.clone()));
        }
    }
    steps
}

/// The runtime API command of a step (none for [`Step::AwaitCheck`]).
pub(crate) fn command(step: &Step) -> String {
    match step {
        Step::AwaitCheck(_) => String::new(),
        Step::Add(s) => format!("add server {BACKEND}/{} {} {}", s.name, s.addr, s.options)
            .trim_end()
            .to_string(),
        Step::Readdress { name, addr } => {
            let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
            if port.is_empty() {
                format!("set server {BACKEND}/{name} addr {ip}")
            } else {
                format!("set server {BACKEND}/{name} addr {ip} port {port}")
            }
        }
        Step::EnableHealth(n) => format!("enable health {BACKEND}/{n}"),
        Step::Enable(n) => format!("enable server {BACKEND}/{n}"),
        Step::Disable(n) => format!("disable server {BACKEND}/{n}"),
        Step::Delete { name, .. } => format!("del server {BACKEND}/{name}"),
    }
}

/// Whether HAProxy's answer to a step's command says it was done.
pub(crate) fn accepted(step: &Step, answer: &str) -> bool {
    let answer = answer.trim();
    match step {
        Step::Add(_) => answer == "New server registered.",
        Step::Delete { .. } => answer == "Server deleted.",
        Step::Readdress { .. } => {
            answer.contains("changed from") || answer.starts_with("no need to change")
        }
        Step::EnableHealth(_) | Step::Enable(_) | Step::Disable(_) => answer.is_empty(),
        Step::AwaitCheck(_) => false,
    }
}

/// What the servers of a configuration file and of the running HAProxy
/// disagree on, one line each (empty when they agree).
pub(crate) fn differences(file: &[ServerLine], running: &[ServerState]) -> Vec<String> {
    let mut out = Vec::new();
    for f in file {
        match running.iter().find(|r| r.name == f.name) {
            None => out.push(format!(
                "`{}` is in haproxy.cfg but not in the running HAProxy",
                f.name
            )),
            Some(r) if r.addr != f.addr => out.push(format!(
                "`{}` is at {} in haproxy.cfg but at {} in the running HAProxy",
                f.name, f.addr, r.addr
            )),
            Some(r) if in_maintenance(r) => out.push(format!(
                "`{}` is in haproxy.cfg; the running HAProxy keeps it in maintenance until a health check passes",
                f.name
            )),
            Some(_) => {}
        }
    }
    for r in running {
        if !file.iter().any(|f| f.name == r.name) {
            out.push(format!(
                "`{}` is in the running HAProxy ({}) but no longer in haproxy.cfg",
                r.name, r.status
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
global
    stats socket /run/haproxy/admin.sock mode 600 level admin
defaults
    mode http
    timeout check 150ms
listen stats
    bind *:1936
    server not-a-node 127.0.0.1:1
frontend localnodes
    bind *:80
    default_backend nodes
backend nodes
    balance roundrobin
    # LABCTL SERVERS START
    server s1 192.168.42.11:3000 check inter 150ms rise 1 fall 2
    server s2 192.168.42.22:3000 check inter 150ms rise 1 fall 2
    # LABCTL SERVERS END
";

    fn line(name: &str, addr: &str) -> ServerLine {
        ServerLine {
            name: name.into(),
            addr: addr.into(),
            options: "check inter 150ms rise 1 fall 2".into(),
        }
    }

    fn state(name: &str, addr: &str, status: &str, check: &str, since: u64) -> ServerState {
        ServerState {
            name: name.into(),
            status: status.into(),
            addr: addr.into(),
            total: 0,
            check: check.into(),
            last_change_s: since,
        }
    }

    #[test]
    fn a_config_splits_into_its_servers_and_the_rest() {
        let s = split(CONFIG);
        assert_eq!(
            s.servers,
            [
                line("s1", "192.168.42.11:3000"),
                line("s2", "192.168.42.22:3000")
            ]
        );
        assert!(s.skeleton.contains("server not-a-node 127.0.0.1:1\n"));
        assert!(s
            .skeleton
            .ends_with("    # LABCTL SERVERS START\n    # LABCTL SERVERS END\n"));
        assert!(!s.skeleton.contains("s1"));
        assert_eq!(split(&s.skeleton).servers, []);
    }

    #[test]
    fn only_changes_beyond_the_server_list_need_a_reload() {
        let fewer = CONFIG.replace(
            "    server s2 192.168.42.22:3000 check inter 150ms rise 1 fall 2\n",
            "",
        );
        let more = CONFIG.replace(
            "    # LABCTL SERVERS END",
            "    server s3 192.168.42.2:3000 check inter 150ms rise 1 fall 2\n    # LABCTL SERVERS END",
        );
        let moved = CONFIG.replace("192.168.42.22:3000", "192.168.42.5:3000");
        assert!(!needs_reload(Some(CONFIG), &fewer));
        assert!(!needs_reload(Some(&fewer), &more));
        assert!(!needs_reload(Some(CONFIG), &moved));
        assert!(!needs_reload(None, CONFIG));
        // A template edit, or other options on a kept server.
        let edited = CONFIG.replace("balance roundrobin", "balance leastconn");
        assert!(needs_reload(Some(CONFIG), &edited));
        let options = CONFIG.replace("inter 150ms", "inter 1s");
        assert!(needs_reload(Some(CONFIG), &options));
        // New options on a new server alone need none: it is added with them.
        assert!(!needs_reload(
            Some(&fewer),
            &fewer.replace(
                "    # LABCTL SERVERS END",
                "    server s9 10.0.0.9:3000 check weight 5\n    # LABCTL SERVERS END"
            )
        ));
    }

    #[test]
    fn a_new_server_is_added_in_maintenance_and_enabled_after_a_passed_check() {
        let wanted = [
            line("s1", "192.168.42.11:3000"),
            line("s3", "192.168.42.2:3000"),
        ];
        let s1 = state("s1", "192.168.42.11:3000", "UP", "L7OK", 9);
        let steps = plan(&wanted, std::slice::from_ref(&s1));
        assert_eq!(
            steps,
            [
                Step::Add(line("s3", "192.168.42.2:3000")),
                Step::EnableHealth("s3".into())
            ]
        );
        assert_eq!(
            command(&steps[0]),
            "add server nodes/s3 192.168.42.2:3000 check inter 150ms rise 1 fall 2"
        );
        assert_eq!(command(&steps[1]), "enable health nodes/s3");
        // Checked but not passed yet: nothing to send, but to wait for.
        for check in ["INI", "* INI", "L4CON", "L7STS"] {
            let s3 = state("s3", "192.168.42.2:3000", "MAINT", check, 0);
            assert_eq!(
                plan(&wanted, &[s1.clone(), s3]),
                [Step::AwaitCheck("s3".into())],
                "{check}"
            );
        }
        // Its first check passed: into rotation.
        let s3 = state("s3", "192.168.42.2:3000", "MAINT", "L7OK", 0);
        let steps = plan(&wanted, &[s1.clone(), s3]);
        assert_eq!(steps, [Step::Enable("s3".into())]);
        assert_eq!(command(&steps[0]), "enable server nodes/s3");
        // In rotation: nothing more, whatever its health (checks decide).
        for status in ["UP", "DOWN", "UP 1/2", "DOWN 1/2"] {
            let s3 = state("s3", "192.168.42.2:3000", status, "L4TOUT", 3);
            assert_eq!(plan(&wanted, &[s1.clone(), s3]), [], "{status}");
        }
    }

    #[test]
    fn an_unchecked_server_is_enabled_at_once() {
        let wanted = [ServerLine {
            name: "s1".into(),
            addr: "10.0.0.1:3000".into(),
            options: String::new(),
        }];
        let steps = plan(&wanted, &[]);
        assert_eq!(steps[1], Step::Enable("s1".into()));
        assert_eq!(command(&steps[0]), "add server nodes/s1 10.0.0.1:3000");
        let s1 = state("s1", "10.0.0.1:3000", "MAINT", "", 0);
        assert_eq!(plan(&wanted, &[s1]), [Step::Enable("s1".into())]);
    }

    #[test]
    fn checks_stopped_half_way_are_enabled_again() {
        let wanted = [line("s3", "192.168.42.2:3000")];
        let s3 = state("s3", "192.168.42.2:3000", "MAINT", "", 0);
        assert_eq!(plan(&wanted, &[s3]), [Step::EnableHealth("s3".into())]);
    }

    #[test]
    fn a_leaving_server_is_taken_out_then_deleted_and_retried_while_refused() {
        let s1 = state("s1", "192.168.42.11:3000", "UP", "L7OK", 9);
        let s2 = state("s2", "192.168.42.22:3000", "DOWN", "L4TOUT", 1);
        let wanted = [line("s1", "192.168.42.11:3000")];
        let steps = plan(&wanted, &[s1.clone(), s2]);
        assert_eq!(
            steps,
            [
                Step::Disable("s2".into()),
                Step::Delete {
                    name: "s2".into(),
                    drained_s: None
                }
            ]
        );
        assert_eq!(command(&steps[0]), "disable server nodes/s2");
        assert_eq!(command(&steps[1]), "del server nodes/s2");
        assert!(accepted(&steps[1], "Server deleted.\n\n"));
        assert!(!accepted(
            &steps[1],
            "Server still has connections attached to it, cannot remove it.\n"
        ));
        // Refused: the next pass tries the deletion again, knowing how long
        // the server has been out of rotation.
        let s2 = state("s2", "192.168.42.22:3000", "MAINT", "L4TOUT", 4);
        assert_eq!(
            plan(&wanted, &[s1, s2]),
            [Step::Delete {
                name: "s2".into(),
                drained_s: Some(4)
            }]
        );
    }

    #[test]
    fn a_name_back_with_another_address_is_readdressed_and_checked_again() {
        let wanted = [line("s3", "192.168.42.7:3000")];
        let s3 = state("s3", "192.168.42.2:3000", "UP", "L7OK", 30);
        let steps = plan(&wanted, &[s3]);
        assert_eq!(
            steps,
            [
                Step::Disable("s3".into()),
                Step::Readdress {
                    name: "s3".into(),
                    addr: "192.168.42.7:3000".into()
                },
                Step::EnableHealth("s3".into())
            ]
        );
        assert_eq!(
            command(&steps[1]),
            "set server nodes/s3 addr 192.168.42.7 port 3000"
        );
        assert!(accepted(
            &steps[1],
            "IP changed from '192.168.42.2' to '192.168.42.7', port changed from '3000' to '3000' by 'stats socket command'\n"
        ));
    }

    #[test]
    fn agreement_and_differences_between_the_file_and_haproxy() {
        let file = [
            line("s1", "192.168.42.11:3000"),
            line("s3", "192.168.42.2:3000"),
        ];
        let running = [
            state("s1", "192.168.42.11:3000", "UP", "L7OK", 9),
            state("s3", "192.168.42.2:3000", "UP", "L7OK", 1),
        ];
        assert_eq!(differences(&file, &running), Vec::<String>::new());
        assert_eq!(plan(&file, &running), []);
        let running = [
            state("s2", "192.168.42.22:3000", "MAINT", "L7OK", 1),
            state("s3", "192.168.42.9:3000", "UP", "L7OK", 1),
        ];
        assert_eq!(
            differences(&file, &running),
            [
                "`s1` is in haproxy.cfg but not in the running HAProxy",
                "`s3` is at 192.168.42.2:3000 in haproxy.cfg but at 192.168.42.9:3000 in the running HAProxy",
                "`s2` is in the running HAProxy (MAINT) but no longer in haproxy.cfg",
            ]
        );
    }
}
