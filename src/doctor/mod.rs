//! `labctl doctor`: whether this machine can run the lab, check by check,
//! each problem with what to do. The verdicts are pure functions of what
//! was found; `run` finds it.

use std::sync::Arc;

mod agent;
mod engine_host;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::contract::Role;
use crate::images::BuildOptions;
use crate::lab::Publish;
use crate::naming::{self, LabNames, HA};
use crate::runtime::{NetworkInfo, Runtime};

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// Fine.
    Ok,
    /// Works, with something to know.
    Note,
    /// The lab will not work until it is fixed.
    Fail,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it went.
    pub level: Level,
    /// What was found.
    pub found: String,
    /// What to do, when something is to be done.
    pub fix: Option<String>,
}

fn check(name: &'static str, level: Level, found: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name,
        level,
        found: found.into(),
        fix: fix.map(String::from),
    }
}

/// What was found of the base image.
#[derive(Debug, Clone, Default)]
pub(crate) struct BaseFacts {
    /// The base asked for.
    pub base: String,
    /// Whether it is the default (which labctl can make).
    pub is_default: bool,
    /// Whether the engine has it.
    pub present: bool,
    /// Whether the engine has the base labctl made earlier.
    pub made_present: bool,
    /// Why pulling it failed, when it was tried and failed.
    pub pull_error: Option<String>,
    /// Whether debootstrap is on `PATH`.
    pub debootstrap: bool,
    /// Whether labctl runs as root.
    pub root: bool,
}

impl BaseFacts {
    /// A base image the engine has (the one asked for, else the one labctl
    /// made), to run doctor's probe from.
    fn on_engine(&self) -> Option<String> {
        if self.present {
            Some(self.base.clone())
        } else {
            self.made_present
                .then(|| crate::base_image::made_name(None))
        }
    }
}

/// The base image's verdict.
pub(crate) fn base_check(f: &BaseFacts) -> Check {
    const NAME: &str = "base image";
    if f.present {
        return check(NAME, Level::Ok, format!("`{}` is present", f.base), None);
    }
    if f.is_default && f.made_present {
        return check(
            NAME,
            Level::Ok,
            format!(
                "`{}` (made here earlier) is present",
                crate::base_image::made_name(None)
            ),
            None,
        );
    }
    let Some(pull_error) = &f.pull_error else {
        return check(NAME, Level::Ok, format!("`{}` can be pulled", f.base), None);
    };
    if !f.is_default {
        return check(
            NAME,
            Level::Fail,
            format!(
                "`{}` is not present and cannot be pulled ({pull_error})",
                f.base
            ),
            Some("load it (`docker load`), or leave out --base to let labctl make a Debian base"),
        );
    }
    match (f.debootstrap, f.root) {
        (true, true) => check(
            NAME,
            Level::Note,
            format!(
                "`{}` cannot be pulled ({pull_error}); labctl makes a Debian base with \
                 debootstrap from this host's mirror at the first build (a minute or two, once)",
                f.base
            ),
            None,
        ),
        (false, _) => check(
            NAME,
            Level::Fail,
            format!(
                "`{}` cannot be pulled ({pull_error}) and debootstrap, which would make it, is \
                 not installed",
                f.base
            ),
            Some("install debootstrap (`apt-get install debootstrap`), or `docker load` a Debian bookworm image and pass it with --base"),
        ),
        (true, false) => check(
            NAME,
            Level::Fail,
            format!(
                "`{}` cannot be pulled ({pull_error}); making it with debootstrap needs root",
                f.base
            ),
            Some("run `sudo labctl build` once, or `docker load` a base image and pass it with --base"),
        ),
    }
}

/// At least this much free space where the engine keeps images: the
/// base, `ha`, `webapp` and the browser image.
pub(crate) const DISK_NEEDED: u64 = 2_000_000_000;

/// The disk's verdict, from the free bytes where the engine keeps images.
pub(crate) fn disk_check(root_dir: &str, free: Option<u64>) -> Check {
    const NAME: &str = "disk space";
    match free {
        None => check(
            NAME,
            Level::Note,
            format!("the free space in `{root_dir}` could not be read; not checked"),
            None,
        ),
        Some(b) if b >= DISK_NEEDED => check(
            NAME,
            Level::Ok,
            format!("{:.1} GB free in `{root_dir}`", b as f64 / 1e9),
            None,
        ),
        Some(b) => check(
            NAME,
            Level::Fail,
            format!(
                "{:.1} GB free in `{root_dir}`; the images need about {:.0} GB",
                b as f64 / 1e9,
                DISK_NEEDED as f64 / 1e9
            ),
            Some("free space there (`docker system prune` removes unused images)"),
        ),
    }
}

/// The subnet's verdict: the lab's own network is no conflict.
pub(crate) fn subnet_check(
    names: &LabNames,
    wanted: Option<Ipv4Net>,
    networks: &[NetworkInfo],
) -> Check {
    const NAME: &str = "subnet";
    let others: Vec<&NetworkInfo> = networks
        .iter()
        .filter(|n| n.name != names.network())
        .collect();
    let chosen = wanted.or_else(|| {
        names
            .is_default()
            .then(|| naming::DEFAULT_SUBNET.parse().ok())
            .flatten()
    });
    let Some(subnet) = chosen else {
        let taken: Vec<Ipv4Net> = others.iter().flat_map(|n| n.subnets.clone()).collect();
        return match naming::free_subnet(&taken) {
            Some(s) => check(
                NAME,
                Level::Ok,
                format!("{s} is free for lab `{}`", names.lab()),
                None,
            ),
            None => check(
                NAME,
                Level::Fail,
                "no free 192.168.x.0/24 is left",
                Some("name one with --subnet"),
            ),
        };
    };
    match others
        .iter()
        .find(|n| n.subnets.iter().any(|s| naming::overlaps(*s, subnet)))
    {
        Some(n) => check(
            NAME,
            Level::Fail,
            format!("{subnet} overlaps network `{}`", n.name),
            Some("choose another with --subnet, or remove that network"),
        ),
        None => check(NAME, Level::Ok, format!("{subnet} is free"), None),
    }
}

/// What multi-host labs (Swarm) will find.
pub(crate) fn multi_host_check(swarm: &str, modules: Option<(bool, bool)>) -> Check {
    let swarm = if swarm.is_empty() { "unknown" } else { swarm };
    let Some((vxlan, ipvs)) = modules else {
        return check(
            "multi-host",
            Level::Note,
            format!(
                "Swarm {swarm}; VXLAN and IPVS not read: the engine's host could not be probed \
                 (see the lines above)"
            ),
            None,
        );
    };
    check(
        "multi-host",
        Level::Note,
        format!(
            "Swarm {swarm}; VXLAN {} (overlay networks {}); IPVS {} ({})",
            if vxlan { "present" } else { "missing" },
            if vxlan { "work" } else { "cannot work" },
            if ipvs { "present" } else { "missing" },
            if ipvs {
                "services can be published through the routing mesh"
            } else {
                "no routing mesh or virtual IPs: services are published on each node's own ports"
            }
        ),
        None,
    )
}

/// How many web apps the kernel's neighbour table lets one lab run.
pub(crate) fn neighbour_check(limit: Option<u64>) -> Check {
    const NAME: &str = "neighbour table";
    const MANY: u64 = 100;
    let Some(limit) = limit else {
        return check(
            NAME,
            Level::Note,
            "not read: the engine's network namespace shows no net.ipv4.neigh.default.gc_thresh3 \
             (an engine in a container, or a machine without /proc); past about 30 web apps a \
             lab needs it raised on the kernel the engine runs on",
            None,
        );
    };
    let room = crate::neighbours::capacity(limit);
    let found = format!(
        "{} = {limit}: room for {room} web apps in one lab",
        crate::neighbours::LIMIT
    );
    if room >= MANY {
        return check(NAME, Level::Ok, found, None);
    }
    let fix = format!("for {MANY}: {}", crate::neighbours::fix(MANY));
    check(NAME, Level::Note, found, Some(&fix))
}

/// Whether the checks let the lab run.
pub(crate) fn healthy(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.level != Level::Fail)
}

/// What `doctor` is asked to check against.
pub(crate) struct Plan {
    /// The lab's names.
    pub names: LabNames,
    /// Where `up` would publish.
    pub publish: Publish,
    /// The subnet `up` would be given.
    pub subnet: Option<Ipv4Net>,
    /// The base image settings.
    pub build: BuildOptions,
}

/// Runs every check, in order. Checks that need the engine are skipped,
/// and say so, when it cannot be reached.
pub(crate) async fn run(plan: &Plan) -> Vec<Check> {
    let mut checks = Vec::new();
    let endpoint = match crate::runtime::endpoint::from_env() {
        Ok(e) => e,
        Err(e) => {
            checks.push(check("engine", Level::Fail, format!("{e:#}"), None));
            return checks;
        }
    };
    let runtime: Option<Arc<dyn Runtime>> = match crate::runtime::connect().await {
        Ok(r) => Some(r),
        Err(e) => {
            checks.push(check("engine", Level::Fail, format!("{e:#}"), None));
            None
        }
    };
    let Some(runtime) = runtime else {
        checks.push(check(
            "the rest",
            Level::Note,
            "not checked: it needs the engine",
            None,
        ));
        return checks;
    };
    let info = match runtime.info().await {
        Ok(i) => {
            checks.push(check(
                "engine",
                Level::Ok,
                format!(
                    "{} {} (API {}) at `{}`{}, {} with kernel {}",
                    i.product,
                    i.version,
                    i.api_version,
                    endpoint.host,
                    endpoint.chosen_by(),
                    i.os,
                    i.kernel
                ),
                None,
            ));
            i
        }
        Err(e) => {
            checks.push(check("engine", Level::Fail, format!("{e:#}"), None));
            return checks;
        }
    };
    let base = base_facts(runtime.as_ref(), &plan.build).await;
    checks.push(base_check(&base));
    match crate::platform::Arch::parse(&info.arch) {
        Some(native) => {
            let arch = plan.build.platform.map_or(native, |p| p.arch);
            checks.push(agent::agent_check(&agent::agent_facts(arch)));
        }
        None => checks.push(check(
            "agent",
            Level::Fail,
            format!(
                "the engine runs on `{}`; labctl runs the lab on amd64 and arm64",
                info.arch
            ),
            None,
        )),
    }
    // The disk, the ports and the neighbour table are this host's when the
    // engine is here; else the probe reads them on the engine's host.
    // The engine host's kernel modules (VXLAN, IPVS): this host's, or the
    // probe's reading on the engine's host (none when it could not run).
    let modules: Option<(bool, bool)>;
    if crate::reach::shares_this_host(runtime.address()) {
        modules = Some((
            crate::host::kernel_module("vxlan"),
            crate::host::kernel_module("ip_vs"),
        ));
        checks.push(disk_check(
            &info.root_dir,
            crate::host::free_bytes(std::path::Path::new(&info.root_dir)),
        ));
        checks.push(
            ports_check(runtime.as_ref(), plan, |bind, port, option| {
                crate::lab::check_port_free(bind, port, option)
                    .err()
                    .map(|e| format!("{e:#}"))
            })
            .await,
        );
        checks.push(neighbour_check(info.neighbour_limit));
    } else {
        let (host_checks, facts) =
            engine_host_checks(runtime.as_ref(), plan, &info, base.on_engine()).await;
        checks.extend(host_checks);
        modules = facts.map(|f| {
            let loaded = |name: &str| f.modules.iter().any(|m| m == name);
            (loaded("vxlan"), loaded("ip_vs"))
        });
    }
    match runtime.networks().await {
        Ok(networks) => checks.push(subnet_check(&plan.names, plan.subnet, &networks)),
        Err(e) => checks.push(check("subnet", Level::Fail, format!("{e:#}"), None)),
    }
    checks.push(screenshot_check(runtime.as_ref()).await);
    checks.push(multi_host_check(&info.swarm, modules));
    checks
}

async fn base_facts(runtime: &dyn Runtime, build: &BuildOptions) -> BaseFacts {
    let made = crate::base_image::made_name(None);
    let has =
        |image: String| async move { matches!(runtime.image_labels(&image).await, Ok(Some(_))) };
    let mut facts = BaseFacts {
        base: build.base.clone(),
        is_default: build.base == crate::images::DEFAULT_BASE,
        present: has(build.base.clone()).await,
        made_present: has(made).await,
        pull_error: None,
        debootstrap: crate::host::which("debootstrap"),
        root: crate::host::is_root(),
    };
    let found = facts.present || (facts.is_default && facts.made_present);
    if !found {
        // Asked of the registry, not pulled: doctor changes nothing.
        facts.pull_error = runtime
            .registry_serves(&build.base)
            .await
            .err()
            .map(|e| format!("{e:#}"));
    }
    facts
}

/// The disk, ports and neighbour table of the engine's host, read by a
/// probe container there (see [`engine_host`]).
async fn engine_host_checks(
    runtime: &dyn Runtime,
    plan: &Plan,
    info: &crate::runtime::EngineInfo,
    image: Option<String>,
) -> (Vec<Check>, Option<engine_host::HostFacts>) {
    let read = match &image {
        Some(image) => engine_host::read(runtime, image, &info.root_dir)
            .await
            .map_err(|e| format!("{e:#}")),
        None => Err(
            "the lab's base image is not on the engine yet (`labctl build` or `labctl \
             up` puts it there; run doctor again then)"
                .to_string(),
        ),
    };
    let facts = match read {
        Ok(facts) => facts,
        Err(why) => {
            let found = format!("not read on the engine's host: {why}");
            let checks = ["disk space", "host ports", "neighbour table"]
                .into_iter()
                .map(|name| check(name, Level::Note, found.clone(), None))
                .collect();
            return (checks, None);
        }
    };
    let listening = facts.listening.clone();
    let checks = vec![
        disk_check(&info.root_dir, facts.free),
        ports_check(runtime, plan, move |bind, port, option| {
            engine_host::taken(&listening, bind, port).then(|| {
                format!(
                    "port {port} on {bind} of the engine's host is already in use; choose \
                     another with {option} (or free it)"
                )
            })
        })
        .await,
        neighbour_check(facts.neighbour_limit),
    ];
    (checks, Some(facts))
}

/// The ports' verdict; `taken` says why a port is not free, if it is not.
async fn ports_check(
    runtime: &dyn Runtime,
    plan: &Plan,
    taken: impl Fn(std::net::IpAddr, u16, &str) -> Option<String>,
) -> Check {
    const NAME: &str = "host ports";
    let p = &plan.publish;
    let lab_up = runtime
        .container_named(&plan.names.container(HA))
        .await
        .ok()
        .flatten()
        .is_some_and(|c| c.label(crate::labels::LAB) == Some(plan.names.lab()));
    if lab_up {
        return check(
            NAME,
            Level::Ok,
            format!("lab `{}` is up and holds its ports", plan.names.lab()),
            None,
        );
    }
    let taken: Vec<String> = [(p.http, "--http-port"), (p.stats, "--stats-port")]
        .into_iter()
        .filter_map(|(port, option)| taken(p.bind, port, option))
        .collect();
    let shown = |port: u16| {
        if port == 0 {
            "any free port".to_string()
        } else {
            format!("{}:{port}", p.bind)
        }
    };
    if taken.is_empty() {
        check(
            NAME,
            Level::Ok,
            format!(
                "web app on {}, stats page on {}",
                shown(p.http),
                shown(p.stats)
            ),
            None,
        )
    } else {
        check(
            NAME,
            Level::Fail,
            taken.join("; "),
            Some("free the port, or choose others with --http-port and --stats-port"),
        )
    }
}

async fn screenshot_check(runtime: &dyn Runtime) -> Check {
    const NAME: &str = "screenshots";
    if let Some(browser) = crate::screenshot::host_browser() {
        return check(NAME, Level::Ok, format!("host browser `{browser}`"), None);
    }
    if matches!(
        runtime.image_labels(Role::Browser.image()).await,
        Ok(Some(_))
    ) {
        return check(
            NAME,
            Level::Ok,
            format!("no host browser; `{}` is built", Role::Browser.image()),
            None,
        );
    }
    check(
        NAME,
        Level::Note,
        format!(
            "no host browser; labctl builds `{}` (headless Chromium, about 760 MB) at the first screenshot",
            Role::Browser.image()
        ),
        None,
    )
}

#[cfg(test)]
mod tests;
