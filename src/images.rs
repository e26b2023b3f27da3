//! The lab's images: build contexts rendered from the templates and the
//! running labctl binary, built (or found up to date) in the engine.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::labels;
use crate::output::Progress;
use crate::runtime::Runtime;
use crate::templates::{self, HaproxyContext, Server, Templates};

/// The default base image.
pub const DEFAULT_BASE: &str = "debian:bookworm-slim";

/// How the lab's images are built.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The base image of every image.
    pub base: String,
    /// The Debian mirror debootstrap uses (`None`: the host's apt one).
    pub mirror: Option<String>,
    /// Rebuild every layer.
    pub no_cache: bool,
    /// The platform of the images (`None`: the engine's own).
    pub platform: Option<Platform>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            base: DEFAULT_BASE.to_string(),
            mirror: None,
            no_cache: false,
            platform: None,
        }
    }
}

pub use crate::contract::Role;
use crate::platform::{Arch, Platform};

/// The image of `role` for the lab's platform: the engine's own
/// (`labctl/ha:latest`), or another architecture run under emulation
/// (`labctl/ha:arm64`), so that both sit side by side on one engine.
pub fn image_name(role: Role, foreign: Option<Arch>) -> String {
    match foreign {
        None => role.image().to_string(),
        Some(arch) => {
            let repo = role
                .image()
                .rsplit_once(':')
                .map_or(role.image(), |(r, _)| r);
            format!("{repo}:{}", arch.docker())
        }
    }
}

/// The architecture of the engine's own platform.
pub async fn engine_arch(runtime: &dyn Runtime) -> Result<Arch> {
    let info = runtime.info().await?;
    Arch::parse(&info.arch).with_context(|| {
        format!(
            "the engine runs on `{}`, and labctl runs the lab on amd64 and arm64 engines only",
            info.arch
        )
    })
}

/// The architecture the lab's nodes run under emulation, when `--platform`
/// asks for another than the engine's own (`None`: the engine's own).
pub async fn foreign_arch(runtime: &dyn Runtime, args: &BuildOptions) -> Result<Option<Arch>> {
    let Some(platform) = args.platform else {
        return Ok(None);
    };
    let native = engine_arch(runtime).await?;
    Ok((platform.arch != native).then_some(platform.arch))
}

/// A build context: a tar archive for the engine, and a digest of what is in it.
pub struct BuildContext {
    /// The archive.
    pub tar: Vec<u8>,
    /// Digest of every file's path, mode and content.
    pub digest: String,
}

/// The base image both images are built from.
#[derive(Debug, Clone)]
pub struct Base {
    /// Its name, written into the Dockerfiles.
    pub name: String,
    /// Its id: part of the context digest, so a remade base (same name, new
    /// content) makes the images stale.
    pub id: String,
}

#[derive(Serialize)]
struct DockerfileContext<'a> {
    base: &'a str,
    /// The constant labels, as `key="value" …` for a LABEL instruction.
    labels: String,
}

/// Renders the build context of `role` from the templates, with `binary` as
/// `labctl` (the node side inside the image).
pub fn build_context(
    templates: &Templates,
    role: Role,
    base: &Base,
    binary: &[u8],
) -> Result<BuildContext> {
    let prefix = format!("{}/", role.dir());
    let mut entries: Vec<(String, u32, Vec<u8>)> = Vec::new();
    for file in templates
        .files()
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
    {
        let rel = &file.path[prefix.len()..];
        if rel == "Dockerfile.tera" {
            let text = templates::render(
                &file.origin,
                &file.text,
                &DockerfileContext {
                    base: &base.name,
                    labels: format!(
                        "{}=\"true\" {}=\"{}\"",
                        labels::MANAGED,
                        labels::IMAGE,
                        role.dir()
                    ),
                },
            )?;
            entries.push(("Dockerfile".into(), 0o644, text.into_bytes()));
        } else {
            let mode = if rel.ends_with("/run") { 0o755 } else { 0o644 };
            entries.push((rel.to_string(), mode, file.text.clone().into_bytes()));
        }
    }
    // The browser and the cluster's engines and registry run no labctl:
    // their contexts stay small.
    if !matches!(role, Role::Browser | Role::Engine | Role::Registry) {
        entries.push(("labctl".into(), 0o755, binary.to_vec()));
    }
    entries.sort();

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    base.id.hash(&mut hasher);
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in &entries {
        (path, mode, data).hash(&mut hasher);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data.as_slice())
            .with_context(|| format!("adding `{path}` to the build context"))?;
    }
    let tar = builder
        .into_inner()
        .context("finishing the build context")?;
    Ok(BuildContext {
        tar,
        digest: format!("{:016x}", hasher.finish()),
    })
}

/// Checks the templates a user may have edited before anything is built: the
/// HAProxy template must render with no backends and with some.
pub fn validate_templates(templates: &Templates) -> Result<()> {
    let file = templates
        .get(templates::HAPROXY_TEMPLATE)
        .context("the HAProxy template is missing")?;
    let sample = HaproxyContext {
        servers: vec![Server {
            name: "s1".into(),
            ip: "192.168.42.11".into(),
            port: crate::naming::WEBAPP_PORT,
        }],
        stats_auth: String::new(),
    };
    for ctx in [HaproxyContext::default(), sample] {
        templates::render(&file.origin, &file.text, &ctx)
            .with_context(|| format!("fix `{}` and run the command again", file.origin))?;
    }
    Ok(())
}

/// The base image's name when it is on the engine already.
async fn present_base(
    runtime: &dyn Runtime,
    args: &BuildOptions,
    foreign: Option<Arch>,
) -> Result<Option<String>> {
    if foreign.is_some() && args.base != DEFAULT_BASE {
        return Ok(Some(args.base.clone()));
    }
    // Another architecture's base is always the one made here: a pull
    // would put it in place of the engine's own under the same name.
    if foreign.is_none() && runtime.image_labels(&args.base).await?.is_some() {
        return Ok(Some(args.base.clone()));
    }
    let made = crate::base_image::made_name(foreign);
    if args.base == DEFAULT_BASE && runtime.image_labels(&made).await?.is_some() {
        return Ok(Some(made));
    }
    Ok(None)
}

/// Finds or makes the base image and returns its name.
async fn resolve_base(
    runtime: &dyn Runtime,
    args: &BuildOptions,
    foreign: Option<Arch>,
    progress: &Progress,
) -> Result<String> {
    if let Some(name) = present_base(runtime, args, foreign).await? {
        return Ok(name);
    }
    if let Some(arch) = foreign {
        return crate::base_image::make(
            runtime,
            args.mirror.as_deref(),
            Some(arch),
            args.no_cache,
            progress,
        )
        .await;
    }
    progress.set(format!("pulling {}", args.base));
    let pull_error = match runtime.pull_image(&args.base).await {
        Ok(()) => return Ok(args.base.clone()),
        Err(e) => e,
    };
    if args.base != DEFAULT_BASE {
        bail!(
            "base image `{}` is not present and cannot be pulled ({pull_error:#}); load it \
             (`docker load`), or leave out --base to let labctl make a Debian base",
            args.base
        );
    }
    progress.info(format!(
        "base image {} is not present and cannot be pulled ({pull_error:#})",
        args.base
    ));
    crate::base_image::make(
        runtime,
        args.mirror.as_deref(),
        None,
        args.no_cache,
        progress,
    )
    .await
}

/// Takes the lock of the engine's lab images: two commands never build
/// (or make the base of) the same images at once.
async fn lock(runtime: &dyn Runtime, progress: &Progress) -> Result<crate::lock::LabGuard> {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(1800);
    crate::lock::LabLock::images(runtime.engine_id(), WAIT)
        .acquire(runtime, progress)
        .await
}

/// Builds both images. Unless `always`, an image whose build context has not
/// changed since it was built is left as it is.
pub async fn ensure(
    runtime: &dyn Runtime,
    templates: &Templates,
    args: &BuildOptions,
    always: bool,
    progress: &Progress,
) -> Result<()> {
    validate_templates(templates)?;
    let native = engine_arch(runtime).await?;
    let arch = args.platform.map_or(native, |p| p.arch);
    let foreign = (arch != native).then_some(arch);
    // The agent first: nothing is built for an engine it could not run on.
    let binary = crate::agent::for_arch(arch, progress)?;
    if !always && up_to_date(runtime, templates, args, &binary, &Role::ALL, foreign).await? {
        return Ok(());
    }
    let _lock = lock(runtime, progress).await?;
    let name = resolve_base(runtime, args, foreign, progress).await?;
    let base = Base {
        id: runtime.image_id(&name).await?,
        name,
    };
    for role in Role::ALL {
        build_role(
            runtime, templates, args, &base, &binary, role, foreign, always, progress,
        )
        .await?;
    }
    Ok(())
}

/// Builds the lab's browser image (headless Chromium) unless it is up to
/// date: the first screenshot without a host browser needs it.
pub async fn ensure_browser(
    runtime: &dyn Runtime,
    templates: &Templates,
    args: &BuildOptions,
    progress: &Progress,
) -> Result<()> {
    ensure_tool(runtime, templates, args, Role::Browser, progress).await
}

/// Builds one of the images that run no labctl (the browser, the local
/// cluster's engine) from the lab's base, unless it is up to date.
pub async fn ensure_tool(
    runtime: &dyn Runtime,
    templates: &Templates,
    args: &BuildOptions,
    role: Role,
    progress: &Progress,
) -> Result<()> {
    let foreign = foreign_arch(runtime, args).await?;
    if up_to_date(runtime, templates, args, &[], &[role], foreign).await? {
        return Ok(());
    }
    let _lock = lock(runtime, progress).await?;
    let name = resolve_base(runtime, args, foreign, progress).await?;
    let base = Base {
        id: runtime.image_id(&name).await?,
        name,
    };
    build_role(
        runtime,
        templates,
        args,
        &base,
        &[],
        role,
        foreign,
        false,
        progress,
    )
    .await
}

/// Whether an image with `labels` was built from `context`.
fn is_fresh(labels: Option<&HashMap<String, String>>, context: &BuildContext) -> bool {
    labels
        .and_then(|l| l.get(labels::CONTEXT))
        .is_some_and(|d| *d == context.digest)
}

/// Whether the images of `roles` are there and built from what they would
/// be built from now: then there is nothing to build, and no lock to take
/// (the images' lock is for building).
async fn up_to_date(
    runtime: &dyn Runtime,
    templates: &Templates,
    args: &BuildOptions,
    binary: &[u8],
    roles: &[Role],
    foreign: Option<Arch>,
) -> Result<bool> {
    if args.no_cache {
        return Ok(false);
    }
    let Some(name) = present_base(runtime, args, foreign).await? else {
        return Ok(false);
    };
    let base = Base {
        id: runtime.image_id(&name).await?,
        name,
    };
    for &role in roles {
        let context = build_context(templates, role, &base, binary)?;
        let labels = runtime.image_labels(&image_name(role, foreign)).await?;
        if !is_fresh(labels.as_ref(), &context) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Builds one image, unless (and `always` is not set) its context has not
/// changed since it was built.
#[allow(clippy::too_many_arguments)]
async fn build_role(
    runtime: &dyn Runtime,
    templates: &Templates,
    args: &BuildOptions,
    base: &Base,
    binary: &[u8],
    role: Role,
    foreign: Option<Arch>,
    always: bool,
    progress: &Progress,
) -> Result<()> {
    let image = image_name(role, foreign);
    let context = build_context(templates, role, base, binary)?;
    let current = runtime.image_labels(&image).await?;
    if is_fresh(current.as_ref(), &context) && !always && !args.no_cache {
        return Ok(());
    }
    progress.info(format!(
        "building {image} from {}{}",
        base.name,
        if current.is_some() {
            " (templates or labctl changed)"
        } else {
            ""
        }
    ));
    // Only the digest is given here: the engine appends one LABEL step
    // per label, each a container commit, after the last file; the
    // constant labels are in the Dockerfile, above the files, cached.
    let image_labels = HashMap::from([(labels::CONTEXT.to_string(), context.digest.clone())]);
    let started = std::time::Instant::now();
    let platform = foreign.map(|a| Platform::linux(a).to_string());
    runtime
        .build_image(
            &image,
            context.tar,
            &image_labels,
            platform.as_deref(),
            args.no_cache,
            &mut |line: &str| {
                progress.set(format!("{}: {}", role.dir(), line.trim()));
            },
        )
        .await
        .map_err(|e| {
            if foreign.is_some() && format!("{e:#}").contains("exec format error") {
                e.context(format!(
                    "the engine cannot run {} programs: register qemu's emulation on its host \
                     (Debian: `apt-get install qemu-user-static binfmt-support`)",
                    platform.as_deref().unwrap_or_default()
                ))
            } else {
                e
            }
        })?;
    progress.info(format!(
        "built {image} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(name: &str, id: &str) -> Base {
        Base {
            name: name.into(),
            id: id.into(),
        }
    }

    fn names_in(tar: &[u8]) -> Vec<(String, u32)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn contexts_hold_the_role_files_and_the_binary() {
        let t = Templates::embedded();
        let ctx = build_context(&t, Role::Ha, &base("base:1", "a"), b"ELF").unwrap();
        let names = names_in(&ctx.tar);
        assert!(names.contains(&("Dockerfile".into(), 0o644)));
        assert!(names.contains(&("haproxy.cfg.tera".into(), 0o644)));
        assert!(names.contains(&("services/serf/run".into(), 0o755)));
        assert!(names.contains(&("labctl".into(), 0o755)));
        assert!(!names.iter().any(|(n, _)| n.contains("webapp")));
    }

    #[test]
    fn the_digest_follows_the_content() {
        let t = Templates::embedded();
        let one = base("base:1", "a");
        let a = build_context(&t, Role::Webapp, &one, b"one").unwrap();
        let b = build_context(&t, Role::Webapp, &one, b"one").unwrap();
        let c = build_context(&t, Role::Webapp, &one, b"two").unwrap();
        let d = build_context(&t, Role::Webapp, &base("base:2", "a"), b"one").unwrap();
        // The same base name remade with other content.
        let e = build_context(&t, Role::Webapp, &base("base:1", "b"), b"one").unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
        assert_ne!(a.digest, d.digest);
        assert_ne!(a.digest, e.digest);
    }

    #[test]
    fn the_dockerfile_names_the_base() {
        let text = dockerfile(Role::Ha, "my/base:7");
        assert!(text.contains("FROM my/base:7\n"), "{text}");
    }

    /// The Dockerfile of a rendered context.
    fn dockerfile(role: Role, base_name: &str) -> String {
        let t = Templates::embedded();
        let ctx = build_context(&t, role, &base(base_name, "a"), b"").unwrap();
        let mut archive = tar::Archive::new(ctx.tar.as_slice());
        let mut text = String::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("Dockerfile") {
                std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            }
        }
        text
    }

    /// The instructions of a Dockerfile, without comments, continuation
    /// lines joined.
    fn instructions(dockerfile: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut continued = false;
        for line in dockerfile
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
        {
            if continued {
                out.last_mut().unwrap().push_str(line);
            } else if !line.trim().is_empty() {
                out.push(line.to_string());
            }
            continued = line.ends_with('\\');
        }
        out
    }

    #[test]
    fn the_two_images_share_no_build_step() {
        // The engine's cache takes the newest image made by an equal step on
        // the same parent: a shared first step would let one image's lookups
        // follow the other's chain (and rebuild the packages).
        let ha = instructions(&dockerfile(Role::Ha, "b:1"));
        let web = instructions(&dockerfile(Role::Webapp, "b:1"));
        assert!(ha[0].starts_with("FROM ") && ha[0] == web[0], "{ha:?}");
        assert_ne!(ha[1], web[1]);
    }

    #[test]
    fn files_come_last_with_the_haproxy_template_at_the_bottom() {
        for role in Role::ALL {
            let steps = instructions(&dockerfile(role, "b:1"));
            let first_copy = steps.iter().position(|s| s.starts_with("COPY ")).unwrap();
            assert!(
                steps[first_copy..].iter().all(|s| s.starts_with("COPY ")),
                "{role:?}: {steps:?}"
            );
        }
        let ha = instructions(&dockerfile(Role::Ha, "b:1"));
        assert!(ha.last().unwrap().contains("haproxy.cfg.tera"), "{ha:?}");
    }

    #[test]
    fn a_broken_haproxy_override_is_refused_before_building() {
        let dir = std::env::temp_dir().join(format!("labctl-val-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ha")).unwrap();
        std::fs::write(dir.join("ha/haproxy.cfg.tera"), "global\n\n{% if %}\n").unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let msg = format!("{:#}", validate_templates(&t).unwrap_err());
        assert!(msg.contains("haproxy.cfg.tera"), "{msg}");
        assert!(msg.contains("3:"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
