//! Unit tests of the reconciliation against a HAProxy in memory.
use super::*;
use std::cell::{Cell, RefCell};

struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const TEMPLATE: &str = "defaults\n    timeout check 150ms\nbackend nodes\n{% for s in servers %}    server {{ s.name }} {{ s.ip }}:{{ s.port }} check inter 150ms\n{% endfor %}";

fn layout(tag: &str) -> (Layout, Scratch) {
    let root = std::env::temp_dir().join(format!("labctl-rec-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("haproxy.cfg.tera"), TEMPLATE).unwrap();
    let l = Layout {
        nodes_dir: root.join("nodes"),
        template: root.join("haproxy.cfg.tera"),
        config: root.join("etc/haproxy.cfg"),
        state_dir: root.join("state"),
    };
    (l, Scratch(root))
}

fn server(name: &str, ip: &str) -> Server {
    Server {
        name: name.into(),
        ip: ip.into(),
        port: 3000,
    }
}

/// A HAProxy in memory that answers the runtime API as HAProxy 2.6 does.
#[derive(Default)]
struct FakeHaproxy {
    config: PathBuf,
    running: RefCell<Vec<ServerState>>,
    commands: RefCell<Vec<String>>,
    reloads: Cell<u32>,
    reload_fails: Cell<bool>,
    rejects: Cell<bool>,
    down: Cell<bool>,
    /// Connections still attached to deleted servers.
    attached: Cell<bool>,
    refuse_add: Cell<bool>,
    /// Servers whose checks HAProxy paused: taken out of rotation by
    /// `disable server`, until `enable server`.
    paused: RefCell<Vec<String>>,
    /// The web apps (ip:port) that answer `ha`'s own check.
    answering: RefCell<Vec<String>>,
}

impl FakeHaproxy {
    fn new(l: &Layout) -> Self {
        Self {
            config: l.config.clone(),
            ..Self::default()
        }
    }

    fn set_check(&self, name: &str, check: &str) {
        for s in self.running.borrow_mut().iter_mut() {
            if s.name == name {
                s.check = check.into();
            }
        }
    }

    fn status(&self) -> Vec<(String, String)> {
        self.running
            .borrow()
            .iter()
            .map(|s| (s.name.clone(), s.status.clone()))
            .collect()
    }

    fn take_commands(&self) -> Vec<String> {
        self.commands.take()
    }
}

impl Haproxy for FakeHaproxy {
    fn check(&self, _: &Path) -> Result<()> {
        if self.rejects.get() {
            anyhow::bail!("HAProxy rejects the configuration: parse error");
        }
        Ok(())
    }

    fn reload(&self) -> Result<()> {
        if self.reload_fails.get() {
            anyhow::bail!("HAProxy is not running yet");
        }
        self.reloads.set(self.reloads.get() + 1);
        let text = fs::read_to_string(&self.config)?;
        *self.running.borrow_mut() = servers::split(&text)
            .servers
            .into_iter()
            .map(|s| ServerState {
                name: s.name,
                status: "UP".into(),
                addr: s.addr,
                total: 0,
                check: "L7OK".into(),
                last_change_s: 0,
            })
            .collect();
        Ok(())
    }

    fn servers(&self) -> Result<Vec<ServerState>> {
        if self.down.get() {
            anyhow::bail!("connecting to HAProxy: no such file");
        }
        Ok(self.running.borrow().clone())
    }

    fn command(&self, command: &str) -> Result<String> {
        self.commands.borrow_mut().push(command.to_string());
        let words: Vec<&str> = command.split_whitespace().collect();
        let name = words
            .get(2)
            .and_then(|w| w.strip_prefix("nodes/"))
            .unwrap_or_default()
            .to_string();
        let mut running = self.running.borrow_mut();
        let find = |r: &mut Vec<ServerState>| r.iter().position(|s| s.name == name);
        Ok(match (words[0], words[1]) {
            ("add", "server") if self.refuse_add.get() => {
                "'server' : unknown keyword 'frobnicate'.\n".into()
            }
            ("add", "server") => {
                running.push(ServerState {
                    name,
                    status: "MAINT".into(),
                    addr: words[3].into(),
                    total: 0,
                    check: String::new(),
                    last_change_s: 0,
                });
                "New server registered.\n".into()
            }
            // Taken, but a paused check stays paused (and unseen).
            ("enable", "health") => {
                let i = find(&mut running).unwrap();
                if !self.paused.borrow().contains(&name) {
                    running[i].check = "INI".into();
                }
                String::new()
            }
            ("enable", "server") => {
                let i = find(&mut running).unwrap();
                running[i].status = "UP".into();
                if self.paused.borrow().contains(&name) {
                    self.paused.borrow_mut().retain(|p| *p != name);
                    running[i].check = "INI".into();
                }
                String::new()
            }
            ("disable", "server") => {
                let i = find(&mut running).unwrap();
                running[i].status = "MAINT".into();
                if !running[i].check.is_empty() {
                    running[i].check = String::new();
                    self.paused.borrow_mut().push(name);
                }
                String::new()
            }
            ("set", "server") => {
                let i = find(&mut running).unwrap();
                running[i].addr = format!("{}:{}", words[4], words[6]);
                "IP changed from 'a' to 'b'\n".into()
            }
            ("shutdown", "sessions") => {
                self.attached.set(false);
                String::new()
            }
            ("del", "server") if self.attached.get() => {
                "Server still has connections attached to it, cannot remove it.\n".into()
            }
            ("del", "server") => {
                let i = find(&mut running).unwrap();
                running.remove(i);
                "Server deleted.\n".into()
            }
            _ => format!("Unknown command: '{command}'\n"),
        })
    }

    fn answers(&self, addr: &str) -> bool {
        self.answering.borrow().iter().any(|a| a == addr)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[test]
fn membership_changes_go_through_the_runtime_api_without_a_reload() {
    let (l, _s) = layout("live");
    let h = FakeHaproxy::new(&l);
    let servers = [server("s1", "10.0.0.11"), server("s2", "10.0.0.22")];
    // HAProxy starts on the first file and loads its servers.
    reconcile(&l, &servers, Mode::Apply, &h).unwrap();
    assert_eq!(
        fs::read_to_string(&l.config).unwrap(),
        "defaults\n    timeout check 150ms\nbackend nodes\n    server s1 10.0.0.11:3000 check inter 150ms\n    server s2 10.0.0.22:3000 check inter 150ms\n"
    );
    h.reload().unwrap();
    h.reloads.set(0);
    h.take_commands();
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::Unchanged
    );

    // s3 joins: added in maintenance, checked, not yet in rotation.
    let three = [
        servers[0].clone(),
        servers[1].clone(),
        server("s3", "10.0.0.3"),
    ];
    let out = reconcile(&l, &three, Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&[
                "add server nodes/s3 10.0.0.3:3000 check inter 150ms",
                "enable health nodes/s3"
            ]),
            waiting: strings(&["`s3`: in maintenance until a health check passes"]),
        }
    );
    assert!(!out.settled());
    assert!(fs::read_to_string(l.waiting_file())
        .unwrap()
        .contains("`s3`"));
    assert_eq!(
        fs::read_to_string(l.nodes_dir.join("s3")).unwrap(),
        "s3 10.0.0.3\n"
    );
    // No check passed yet: the next pass waits, sending nothing.
    h.take_commands();
    assert_eq!(
        reconcile(&l, &three, Mode::Apply, &h).unwrap(),
        Outcome::Live {
            done: vec![],
            waiting: strings(&["`s3`: in maintenance until a health check passes"]),
        }
    );
    assert!(h.take_commands().is_empty());
    // Its first check passed: into rotation.
    h.set_check("s3", "L7OK");
    let out = reconcile(&l, &three, Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&["enable server nodes/s3"]),
            waiting: vec![],
        }
    );
    assert!(out.settled());
    assert!(!l.waiting_file().exists());

    // s1 leaves: out of rotation, then deleted.
    let out = reconcile(&l, &three[1..], Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&["disable server nodes/s1", "del server nodes/s1"]),
            waiting: vec![],
        }
    );
    assert!(!l.nodes_dir.join("s1").exists());
    assert!(!fs::read_to_string(&l.config).unwrap().contains("s1"));
    assert_eq!(
        h.status(),
        [("s2".into(), "UP".into()), ("s3".into(), "UP".into())]
    );
    assert_eq!(h.reloads.get(), 0, "no reload for membership changes");
}

#[test]
fn settling_finishes_what_waits_from_the_file_alone() {
    let (l, _s) = layout("settle");
    let h = FakeHaproxy::new(&l);
    let three = [server("s1", "10.0.0.11"), server("s3", "10.0.0.3")];
    reconcile(&l, &three[..1], Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    reconcile(&l, &three, Mode::Apply, &h).unwrap();
    // The template breaks meanwhile: settling does not render it.
    fs::write(&l.template, "{% for s in %}").unwrap();
    h.take_commands();
    let out = settle(&l, &h).unwrap();
    assert!(!out.settled(), "{out:?}");
    assert!(h.take_commands().is_empty(), "nothing to send yet");
    h.set_check("s3", "L7OK");
    assert_eq!(
        settle(&l, &h).unwrap(),
        Outcome::Live {
            done: strings(&["enable server nodes/s3"]),
            waiting: vec![],
        }
    );
    assert!(!l.waiting_file().exists());
    assert_eq!(h.reloads.get(), 1);
}

#[test]
fn a_refused_deletion_is_retried_and_cut_after_the_deadline() {
    let (l, _s) = layout("drain");
    let h = FakeHaproxy::new(&l);
    let servers = [server("s1", "10.0.0.11"), server("s2", "10.0.0.22")];
    reconcile(&l, &servers, Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    h.attached.set(true);
    let out = reconcile(&l, &servers[..1], Mode::Apply, &h).unwrap();
    let refused = "`s2`: out of rotation, not deleted yet: Server still has connections attached to it, cannot remove it.";
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&["disable server nodes/s2"]),
            waiting: strings(&[refused]),
        }
    );
    // Retried on the next pass while the deadline is not reached.
    h.take_commands();
    let out = reconcile(&l, &servers[..1], Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: vec![],
            waiting: strings(&[refused]),
        }
    );
    assert_eq!(h.take_commands(), ["del server nodes/s2"]);
    // Out of rotation for longer than the deadline: connections are cut.
    h.running.borrow_mut()[1].last_change_s = servers::DRAIN_DEADLINE_S;
    let out = reconcile(&l, &servers[..1], Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&["shutdown sessions server nodes/s2", "del server nodes/s2"]),
            waiting: vec![],
        }
    );
    assert_eq!(h.status(), [("s1".into(), "UP".into())]);
}

#[test]
fn a_template_edit_reloads_and_a_failed_reload_is_retried() {
    let (l, _s) = layout("reload");
    let h = FakeHaproxy::new(&l);
    let servers = [server("s1", "10.0.0.11")];
    reconcile(&l, &servers, Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    h.reloads.set(0);
    fs::write(
        &l.template,
        TEMPLATE.replace("timeout check 150ms", "timeout check 1s"),
    )
    .unwrap();
    h.reload_fails.set(true);
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::ReloadPending
    );
    assert!(l.reload_pending_file().exists());
    // Same servers, file unchanged: the reload is still attempted.
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::ReloadPending
    );
    h.reload_fails.set(false);
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::Reloaded
    );
    assert_eq!(h.reloads.get(), 1);
    assert!(!l.reload_pending_file().exists());
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::Unchanged
    );
    // Other server options are a template edit too.
    fs::write(&l.template, TEMPLATE.replace("inter 150ms", "inter 1s")).unwrap();
    assert_eq!(
        reconcile(&l, &servers, Mode::Apply, &h).unwrap(),
        Outcome::Reloaded
    );
}

#[test]
fn what_the_runtime_api_refuses_a_reload_applies() {
    let (l, _s) = layout("refused");
    let h = FakeHaproxy::new(&l);
    reconcile(&l, &[], Mode::Apply, &h).unwrap();
    h.refuse_add.set(true);
    let out = reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Apply, &h).unwrap();
    assert_eq!(out, Outcome::Reloaded);
    assert_eq!(h.status(), [("s1".into(), "UP".into())]);
}

#[test]
fn a_haproxy_that_does_not_answer_yet_is_waited_for() {
    let (l, _s) = layout("starting");
    let h = FakeHaproxy::new(&l);
    h.down.set(true);
    let out = reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Apply, &h).unwrap();
    assert!(!out.settled(), "{out:?}");
    assert_eq!(h.reloads.get(), 0, "a first file needs no reload");
    h.down.set(false);
    // HAProxy started on an older file without s1: s1 is added live.
    let out = reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Apply, &h).unwrap();
    assert!(
        matches!(&out, Outcome::Live { done, .. } if done[0].starts_with("add server nodes/s1")),
        "{out:?}"
    );
}

#[test]
fn a_server_taken_out_and_wanted_again_comes_back_once_its_web_app_answers() {
    // HAProxy pauses the checks of a server taken out of rotation: no
    // check of its own will ever pass while it stays in maintenance.
    let (l, _s) = layout("paused");
    let h = FakeHaproxy::new(&l);
    let one = [server("s3", "10.0.0.3")];
    reconcile(&l, &one, Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    h.command("disable server nodes/s3").unwrap();
    h.take_commands();
    for _ in 0..3 {
        let out = settle(&l, &h).unwrap();
        assert_eq!(
            out,
            Outcome::Live {
                done: strings(&["enable health nodes/s3"]),
                waiting: strings(&["`s3`: in maintenance until a health check passes"]),
            }
        );
        assert_eq!(h.status(), [("s3".into(), "MAINT".into())]);
    }
    h.answering.borrow_mut().push("10.0.0.3:3000".into());
    assert_eq!(
        settle(&l, &h).unwrap(),
        Outcome::Live {
            done: strings(&["enable health nodes/s3", "enable server nodes/s3"]),
            waiting: vec![],
        }
    );
    assert_eq!(h.status(), [("s3".into(), "UP".into())]);
    assert_eq!(settle(&l, &h).unwrap(), Outcome::Unchanged);
}

#[test]
fn a_new_server_whose_web_app_answers_goes_into_rotation_in_the_same_pass() {
    let (l, _s) = layout("ready");
    let h = FakeHaproxy::new(&l);
    let two = [server("s1", "10.0.0.11"), server("s3", "10.0.0.3")];
    reconcile(&l, &two[..1], Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    h.answering.borrow_mut().push("10.0.0.3:3000".into());
    let out = reconcile(&l, &two, Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&[
                "add server nodes/s3 10.0.0.3:3000 check inter 150ms",
                "enable health nodes/s3",
                "enable server nodes/s3"
            ]),
            waiting: vec![],
        }
    );
    assert_eq!(
        h.status(),
        [("s1".into(), "UP".into()), ("s3".into(), "UP".into())]
    );
}

#[test]
fn a_name_back_at_another_address_is_moved_live() {
    let (l, _s) = layout("move");
    let h = FakeHaproxy::new(&l);
    reconcile(&l, &[server("s3", "10.0.0.3")], Mode::Apply, &h).unwrap();
    h.reload().unwrap();
    let out = reconcile(&l, &[server("s3", "10.0.0.7")], Mode::Apply, &h).unwrap();
    assert_eq!(
        out,
        Outcome::Live {
            done: strings(&[
                "disable server nodes/s3",
                "set server nodes/s3 addr 10.0.0.7 port 3000",
                "enable health nodes/s3"
            ]),
            waiting: strings(&["`s3`: in maintenance until a health check passes"]),
        }
    );
    assert_eq!(h.reloads.get(), 1);
}

#[test]
fn stage_5_writes_and_leaves_haproxy_alone() {
    let (l, _s) = layout("write");
    let h = FakeHaproxy::new(&l);
    h.down.set(true);
    let out = reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Write, &h).unwrap();
    assert_eq!(out, Outcome::Written);
    assert_eq!(
        reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Write, &h).unwrap(),
        Outcome::Unchanged
    );
    fs::write(&l.template, TEMPLATE.replace("150ms", "1s")).unwrap();
    assert_eq!(
        reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Write, &h).unwrap(),
        Outcome::Written
    );
    assert!(h.take_commands().is_empty());
    assert_eq!(h.reloads.get(), 0);
    assert!(!l.reload_pending_file().exists());
}

#[test]
fn a_rejected_config_keeps_the_last_good_one() {
    let (l, _s) = layout("reject");
    let h = FakeHaproxy::new(&l);
    let good = [server("s1", "10.0.0.11")];
    reconcile(&l, &good, Mode::Apply, &h).unwrap();
    let before = fs::read_to_string(&l.config).unwrap();
    h.rejects.set(true);
    h.take_commands();
    let err = reconcile(&l, &[server("s9", "10.0.0.9")], Mode::Apply, &h).unwrap_err();
    assert!(format!("{err:#}").contains("last good one keeps running"));
    assert_eq!(fs::read_to_string(&l.config).unwrap(), before);
    assert!(h.take_commands().is_empty(), "HAProxy is not touched");
    assert!(fs::read_to_string(l.error_file())
        .unwrap()
        .contains("parse error"));
    // The next good reconciliation clears the error.
    h.rejects.set(false);
    reconcile(&l, &good, Mode::Apply, &h).unwrap();
    assert!(!l.error_file().exists());
}

#[test]
fn a_broken_template_keeps_the_last_good_config() {
    let (l, _s) = layout("tpl");
    let h = FakeHaproxy::new(&l);
    reconcile(&l, &[server("s1", "10.0.0.11")], Mode::Apply, &h).unwrap();
    let before = fs::read_to_string(&l.config).unwrap();
    fs::write(&l.template, "{% for s in %}").unwrap();
    assert!(reconcile(&l, &[], Mode::Apply, &h).is_err());
    assert_eq!(fs::read_to_string(&l.config).unwrap(), before);
}

#[test]
fn unrelated_files_in_the_registry_are_kept() {
    let (l, _s) = layout("keep");
    fs::create_dir_all(&l.nodes_dir).unwrap();
    fs::write(l.nodes_dir.join(".keep"), "").unwrap();
    sync_registry(&l.nodes_dir, &[server("s1", "10.0.0.11")]).unwrap();
    assert!(l.nodes_dir.join(".keep").exists());
    assert_eq!(read_registry(&l.nodes_dir).len(), 1);
}
