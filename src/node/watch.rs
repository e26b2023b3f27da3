//! `labctl node watch`: on `ha`, follows Serf's live member list and the
//! HAProxy template, and reconciles as soon as either changes.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use super::membership::{backends, Member, Refusal};
use super::reconcile::{Layout, Mode, Outcome};
use super::{log_refusals, reconcile_and_log, serf_rpc, settle_and_log};
use crate::templates::Server;

/// How soon a pass that left something waiting (a new server's first
/// health check, a deletion refused while connections drain) is tried again.
const WAITING_INTERVAL: Duration = Duration::from_millis(25);
/// How soon a failed reconciliation is tried again with nothing changed.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How often a whole reconciliation runs with nothing changed: the event
/// handler changes HAProxy too, and a pass it left unfinished (a server in
/// maintenance awaiting its check: the handler does not wait) is finished
/// here within this time.
const RESYNC_AFTER: Duration = Duration::from_secs(1);

/// What a poll leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing changed and nothing waits.
    Nothing,
    /// Only the last pass's leftovers: finish them from the file in place.
    Settle,
    /// Membership or template changed (or a failure is due for a retry):
    /// render, check and apply.
    Reconcile,
}

/// What the watcher knows between two polls.
#[derive(Debug, Default)]
pub(super) struct Watcher {
    /// The backends of the last reconciliation.
    applied: Option<Vec<Server>>,
    /// The template's modification time at the last reconciliation.
    template: Option<SystemTime>,
    /// Whether the last reconciliation left nothing for a later pass.
    settled: bool,
    /// When the last reconciliation failed.
    failed_at: Option<Instant>,
    last_refused: Vec<Refusal>,
    /// What the last pass waited for, as last said in the log.
    last_waiting: Vec<String>,
    /// When the last reconciliation or settling pass ran.
    last_pass: Option<Instant>,
}

impl Watcher {
    /// What a poll that saw `servers` and the template at `template` must
    /// do.
    pub(super) fn due(
        &self,
        servers: &[Server],
        template: Option<SystemTime>,
        now: Instant,
    ) -> Due {
        let stale = self.failed_at.is_none()
            && self
                .last_pass
                .is_some_and(|t| now.saturating_duration_since(t) > RESYNC_AFTER);
        if self.applied.as_deref() != Some(servers)
            || self.template != template
            || self.failed_at.is_some_and(|t| now - t > RETRY_AFTER)
            || stale
        {
            Due::Reconcile
        } else if !self.settled {
            Due::Settle
        } else {
            Due::Nothing
        }
    }

    /// Records a reconciliation's result.
    pub(super) fn record(
        &mut self,
        servers: Vec<Server>,
        template: Option<SystemTime>,
        result: &Result<Outcome>,
        now: Instant,
    ) {
        self.applied = Some(servers);
        self.template = template;
        self.last_pass = Some(now);
        match result {
            Ok(out) => {
                self.settled = out.settled();
                self.failed_at = None;
            }
            Err(_) => {
                // Not due again until the retry time or a change.
                self.settled = true;
                self.failed_at = Some(now);
            }
        }
    }

    /// How long to sleep before the next poll.
    pub(super) fn interval(&self, normal: Duration) -> Duration {
        if self.settled {
            normal
        } else {
            WAITING_INTERVAL.min(normal)
        }
    }

    /// What a pass waits for, when it differs from what was last said.
    fn waiting_changed(&mut self, result: &Result<Outcome>) -> Option<Vec<String>> {
        let waiting = match result {
            Ok(Outcome::Live { waiting, .. }) => waiting.clone(),
            _ => Vec::new(),
        };
        (waiting != self.last_waiting).then(|| {
            self.last_waiting = waiting.clone();
            waiting
        })
    }

    fn refusals_changed(&mut self, refused: Vec<Refusal>) -> Option<Vec<Refusal>> {
        (refused != self.last_refused).then(|| {
            self.last_refused = refused.clone();
            refused
        })
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Watches Serf's live member list and reconciles as soon as it changes.
/// Serf delays member events by a second or more; polling the local agent
/// puts a new backend into rotation in a fraction of that.
pub(crate) fn watch(interval: Duration) -> Result<()> {
    let layout = Layout::default();
    let mut watcher = Watcher::default();
    let mut serf_down_reported = false;
    println!(
        "labctl watch: polling Serf every {} ms",
        interval.as_millis()
    );
    let mut rpc: Option<serf_rpc::SerfRpc> = None;
    loop {
        let members: Result<Vec<Member>> = match rpc.take() {
            Some(r) => Ok(r),
            None => serf_rpc::SerfRpc::connect(serf_rpc::RPC_ADDR),
        }
        .and_then(|mut r| {
            let m = r.members()?;
            rpc = Some(r);
            Ok(m)
        });
        match members {
            Ok(members) => {
                serf_down_reported = false;
                let (servers, refused) = backends(&members);
                let servers = super::leaving::without_leaving(&layout, servers, &members);
                if let Some(refused) = watcher.refusals_changed(refused) {
                    log_refusals(&refused);
                }
                let template = modified(&layout.template);
                let now = Instant::now();
                let due = watcher.due(&servers, template, now);
                if due != Due::Nothing {
                    let result = if due == Due::Settle {
                        settle_and_log(&layout)
                    } else {
                        reconcile_and_log(&layout, &servers, Mode::Apply)
                    };
                    if let Err(e) = &result {
                        println!("labctl watch: {e:#}");
                    }
                    for w in watcher.waiting_changed(&result).unwrap_or_default() {
                        println!("labctl: waiting: {w}");
                    }
                    watcher.record(servers, template, &result, now);
                }
            }
            Err(e) if !serf_down_reported => {
                println!("labctl watch: waiting for the Serf agent: {e:#}");
                serf_down_reported = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(watcher.interval(interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> Server {
        Server {
            name: name.into(),
            ip: "10.0.0.1".into(),
            port: 3000,
        }
    }

    #[test]
    fn the_watcher_reconciles_on_change_while_waiting_and_after_a_failure() {
        let t0 = Instant::now();
        let mut w = Watcher::default();
        let one = vec![server("s1")];
        assert_eq!(w.due(&one, None, t0), Due::Reconcile, "nothing applied yet");
        w.record(one.clone(), None, &Ok(Outcome::Unchanged), t0);
        assert_eq!(w.due(&one, None, t0), Due::Nothing);
        assert_eq!(
            w.interval(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        // Membership or template changed.
        assert_eq!(
            w.due(&[server("s1"), server("s2")], None, t0),
            Due::Reconcile
        );
        assert_eq!(
            w.due(&one, Some(SystemTime::UNIX_EPOCH), t0),
            Due::Reconcile
        );
        // A pass that left a server waiting for its first check: again soon.
        let waiting = Outcome::Live {
            done: vec![],
            waiting: vec!["`s1`: in maintenance until a health check passes".into()],
        };
        w.record(one.clone(), None, &Ok(waiting), t0);
        assert_eq!(w.due(&one, None, t0), Due::Settle);
        assert_eq!(w.interval(Duration::from_millis(100)), WAITING_INTERVAL);
        w.record(one.clone(), None, &Ok(Outcome::ReloadPending), t0);
        assert_eq!(w.due(&one, None, t0), Due::Settle);
        // A change while something waits: a whole reconciliation.
        assert_eq!(w.due(&[], None, t0), Due::Reconcile);
        // A failure: again after the retry time, not at every poll.
        w.record(one.clone(), None, &Err(anyhow::anyhow!("bad template")), t0);
        assert_eq!(w.due(&one, None, t0 + Duration::from_secs(1)), Due::Nothing);
        assert_eq!(
            w.due(&one, None, t0 + RETRY_AFTER + Duration::from_millis(1)),
            Due::Reconcile
        );
    }

    #[test]
    fn a_settled_watcher_reconciles_again_after_a_second() {
        // The event handler may have left HAProxy half-way (a server in
        // maintenance awaiting its first check): the watcher finishes it
        // even though the membership it saw has not changed.
        let t0 = Instant::now();
        let mut w = Watcher::default();
        let one = vec![server("s1")];
        w.record(one.clone(), None, &Ok(Outcome::Unchanged), t0);
        assert_eq!(
            w.due(&one, None, t0 + Duration::from_millis(500)),
            Due::Nothing
        );
        let later = t0 + RESYNC_AFTER + Duration::from_millis(1);
        assert_eq!(w.due(&one, None, later), Due::Reconcile);
        w.record(one.clone(), None, &Ok(Outcome::Unchanged), later);
        assert_eq!(w.due(&one, None, later), Due::Nothing);
    }
}
