//! The lab's templates (Dockerfiles, s6 services, Serf and HAProxy
//! configuration): embedded in the binary, overridable file by file from a
//! directory, and rendered with Tera.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// Every template file, by its path under `templates/`, with its embedded text.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "browser/Dockerfile.tera",
        include_str!("../templates/browser/Dockerfile.tera"),
    ),
    (
        "engine/Dockerfile.tera",
        include_str!("../templates/engine/Dockerfile.tera"),
    ),
    (
        "registry/Dockerfile.tera",
        include_str!("../templates/registry/Dockerfile.tera"),
    ),
    (
        "ha/Dockerfile.tera",
        include_str!("../templates/ha/Dockerfile.tera"),
    ),
    (
        "ha/haproxy.cfg.tera",
        include_str!("../templates/ha/haproxy.cfg.tera"),
    ),
    ("ha/serf.json", include_str!("../templates/ha/serf.json")),
    (
        "ha/task4.cfg.tera",
        include_str!("../templates/ha/task4.cfg.tera"),
    ),
    (
        "ha/services/haproxy/run",
        include_str!("../templates/ha/services/haproxy/run"),
    ),
    (
        "ha/services/serf/run",
        include_str!("../templates/ha/services/serf/run"),
    ),
    (
        "ha/services/watch/run",
        include_str!("../templates/ha/services/watch/run"),
    ),
    (
        "webapp/Dockerfile.tera",
        include_str!("../templates/webapp/Dockerfile.tera"),
    ),
    (
        "webapp/serf.json",
        include_str!("../templates/webapp/serf.json"),
    ),
    (
        "webapp/services/serf/run",
        include_str!("../templates/webapp/services/serf/run"),
    ),
    (
        "webapp/services/webapp/run",
        include_str!("../templates/webapp/services/webapp/run"),
    ),
];

/// The HAProxy template's path under `templates/`.
pub const HAPROXY_TEMPLATE: &str = "ha/haproxy.cfg.tera";

/// One template file, ready to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// Path under `templates/`, e.g. `ha/services/serf/run`.
    pub path: &'static str,
    /// Its text, with Unix line endings.
    pub text: String,
    /// Where it came from: `embedded` or the override file's path.
    pub origin: String,
}

/// The set of templates labctl builds from: the embedded ones, each replaced
/// by a file of the same path under the override directory when there is one.
#[derive(Debug, Clone)]
pub struct Templates {
    files: Vec<TemplateFile>,
}

impl Templates {
    /// The embedded templates only.
    pub fn embedded() -> Self {
        Self {
            files: EMBEDDED
                .iter()
                .map(|(path, text)| TemplateFile {
                    path,
                    text: normalize_line_endings(text),
                    origin: "embedded".into(),
                })
                .collect(),
        }
    }

    /// The embedded templates with overrides from `dir` (when given), else
    /// from `./templates` when that directory exists.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let dir: Option<PathBuf> = match dir {
            Some(d) => {
                anyhow::ensure!(
                    d.is_dir(),
                    "template directory `{}` does not exist; pass an existing directory to --templates",
                    d.display()
                );
                Some(d.to_path_buf())
            }
            None => Some(PathBuf::from("templates")).filter(|d| d.is_dir()),
        };
        let mut templates = Self::embedded();
        if let Some(dir) = dir {
            for file in &mut templates.files {
                let candidate = dir.join(file.path);
                if candidate.is_file() {
                    let text = std::fs::read_to_string(&candidate)
                        .with_context(|| format!("reading template `{}`", candidate.display()))?;
                    file.text = normalize_line_endings(&text);
                    file.origin = candidate.display().to_string();
                }
            }
        }
        Ok(templates)
    }

    /// All files.
    pub fn files(&self) -> &[TemplateFile] {
        &self.files
    }

    /// One file by its path under `templates/`.
    pub fn get(&self, path: &str) -> Option<&TemplateFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Turns CRLF (and lone CR) line endings into LF: a script or configuration
/// edited on Windows must still run.
pub fn normalize_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Renders a Tera template from `text`; `name` appears in error messages.
pub fn render(name: &str, text: &str, context: &impl Serialize) -> Result<String> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(name, text)
        .map_err(|e| anyhow::anyhow!(tera_chain(&e)))
        .with_context(|| format!("template `{name}` has a syntax error"))?;
    let ctx = tera::Context::from_serialize(context)
        .map_err(|e| anyhow::anyhow!(tera_chain(&e)))
        .context("preparing the template's variables")?;
    tera.render(name, &ctx)
        .map_err(|e| anyhow::anyhow!(tera_chain(&e)))
        .with_context(|| format!("rendering template `{name}`"))
}

/// Tera hides the useful part (line, column, what was expected) in the
/// error's sources: gather them into one message.
fn tera_chain(err: &tera::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// A backend server in HAProxy's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    /// Node name, also the HAProxy server name.
    pub name: String,
    /// Its address.
    pub ip: String,
    /// Its web app port.
    pub port: u16,
}

/// The variables of `haproxy.cfg.tera`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HaproxyContext {
    /// The backends, in order.
    pub servers: Vec<Server>,
    /// `user:pass` for the stats page, or empty for none.
    pub stats_auth: String,
}

/// Renders HAProxy's configuration.
pub fn render_haproxy(template: &str, context: &HaproxyContext) -> Result<String> {
    render("haproxy.cfg.tera", template, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded_haproxy() -> String {
        Templates::embedded()
            .get(HAPROXY_TEMPLATE)
            .unwrap()
            .text
            .clone()
    }

    fn servers(n: usize) -> Vec<Server> {
        (1..=n)
            .map(|i| Server {
                name: format!("s{i}"),
                ip: format!("192.168.42.{}", 10 + i),
                port: 3000,
            })
            .collect()
    }

    fn server_block(cfg: &str) -> Vec<String> {
        let start = cfg.find("# LABCTL SERVERS START").unwrap();
        let end = cfg.find("# LABCTL SERVERS END").unwrap();
        cfg[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every server's own settings: what `add server` is given at run time.
    const OPTIONS: &str = " check inter 150ms fastinter 50ms downinter 50ms rise 1 fall 2 observe layer4 error-limit 1 on-error mark-down";

    #[test]
    fn zero_backends_render_an_empty_backend() {
        let cfg = render_haproxy(&embedded_haproxy(), &HaproxyContext::default()).unwrap();
        assert!(server_block(&cfg).is_empty());
        assert!(cfg.contains("backend nodes"));
        assert!(!cfg.contains("stats auth"));
    }

    #[test]
    fn one_backend() {
        let ctx = HaproxyContext {
            servers: servers(1),
            ..Default::default()
        };
        let cfg = render_haproxy(&embedded_haproxy(), &ctx).unwrap();
        assert_eq!(
            server_block(&cfg),
            [format!("server s1 192.168.42.11:3000{OPTIONS}")]
        );
    }

    #[test]
    fn many_backends_in_order() {
        let ctx = HaproxyContext {
            servers: servers(3),
            stats_auth: "admin:secret".into(),
        };
        let cfg = render_haproxy(&embedded_haproxy(), &ctx).unwrap();
        assert_eq!(
            server_block(&cfg),
            [
                format!("server s1 192.168.42.11:3000{OPTIONS}"),
                format!("server s2 192.168.42.12:3000{OPTIONS}"),
                format!("server s3 192.168.42.13:3000{OPTIONS}"),
            ]
        );
        assert!(cfg.contains("    stats auth admin:secret\n"));
    }

    #[test]
    fn crlf_templates_render_with_unix_line_endings() {
        let crlf = embedded_haproxy().replace('\n', "\r\n");
        let cfg =
            render_haproxy(&normalize_line_endings(&crlf), &HaproxyContext::default()).unwrap();
        assert!(!cfg.contains('\r'));
        assert_eq!(normalize_line_endings("a\r\nb\rc\n"), "a\nb\nc\n");
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let err =
            render_haproxy("global\n{% for x in %}\n", &HaproxyContext::default()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("syntax error"), "{msg}");
        assert!(msg.contains("2:"), "{msg}");
    }

    #[test]
    fn overrides_replace_single_files() {
        let dir = std::env::temp_dir().join(format!("labctl-tpl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ha")).unwrap();
        std::fs::write(dir.join("ha/serf.json"), "{ }\r\n").unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let serf = t.get("ha/serf.json").unwrap();
        assert_eq!(serf.text, "{ }\n");
        assert!(serf.origin.ends_with("serf.json"));
        assert_eq!(t.get("webapp/serf.json").unwrap().origin, "embedded");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
