//! Reaching a Docker Engine: at `DOCKER_HOST` (or the local socket) or at
//! a given address, the API version agreed, the engine's ID read.

use anyhow::{bail, Context, Result};
use bollard::Docker;

use super::DockerEngine;

/// The engine's own ID, or its address when it gives none.
async fn engine_id(docker: &Docker, host: &str) -> String {
    docker
        .info()
        .await
        .ok()
        .and_then(|i| i.id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| host.to_string())
}

/// A client of the engine at `host` without TLS, whatever the environment
/// says (bollard alone would take DOCKER_TLS_VERIFY for a tcp address; the
/// endpoint has decided that already).
fn plain(host: &str) -> Result<Docker> {
    if host.starts_with("tcp://") || host.starts_with("http://") {
        Ok(Docker::connect_with_http(
            host,
            120,
            bollard::API_DEFAULT_VERSION,
        )?)
    } else {
        Ok(Docker::connect_with_host(host)?)
    }
}

/// A client of the engine at `host` over TLS, with the client certificate
/// and CA the docker CLI would use.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
fn with_tls(host: &str, tls: &crate::runtime::endpoint::Tls) -> Result<Docker> {
    Ok(Docker::connect_with_ssl(
        host,
        &tls.dir.join("key.pem"),
        &tls.dir.join("cert.pem"),
        &tls.dir.join("ca.pem"),
        120,
        bollard::API_DEFAULT_VERSION,
    )?)
}

#[cfg(not(all(target_os = "linux", not(target_env = "musl"))))]
fn with_tls(host: &str, _tls: &crate::runtime::endpoint::Tls) -> Result<Docker> {
    bail!("labctl speaks TLS to `{host}` on Linux hosts only")
}

impl DockerEngine {
    /// Connects to the engine named by `DOCKER_HOST` (or the local socket) and
    /// agrees on an API version with it.
    pub async fn connect() -> Result<Self> {
        Self::connect_endpoint(crate::runtime::endpoint::from_env()?).await
    }

    /// Connects to the engine at `endpoint` and agrees on an API version
    /// with it.
    pub(crate) async fn connect_endpoint(
        endpoint: crate::runtime::endpoint::Endpoint,
    ) -> Result<Self> {
        if let Some(why) = crate::runtime::endpoint::diagnose(&endpoint) {
            bail!(why);
        }
        let hint = || {
            format!(
                "cannot reach the Docker Engine at `{}`{}; check that it runs \
                 (`sudo systemctl start docker`) and that you may use it (root or the `docker` \
                 group), or point DOCKER_HOST at a running engine",
                endpoint.host,
                endpoint.chosen_by()
            )
        };
        // An ssh engine is reached on the socket ssh forwards here.
        let tunnel = if endpoint.host.starts_with("ssh://") {
            Some(std::sync::Arc::new(
                crate::runtime::ssh::Tunnel::open(&endpoint.host).await?,
            ))
        } else {
            None
        };
        let dial = tunnel
            .as_ref()
            .map_or_else(|| endpoint.host.clone(), |t| t.host());
        let docker = match &endpoint.tls {
            Some(tls) => with_tls(&dial, tls).with_context(hint)?,
            None => plain(&dial).with_context(hint)?,
        };
        let docker = docker.negotiate_version().await.map_err(|e| {
            let e = anyhow::Error::new(e);
            if format!("{e:#}").contains("HTTP request to an HTTPS server") {
                e.context(
                    "the engine speaks TLS only: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH \
                     to the folder of the ca.pem, cert.pem and key.pem its CA made for you",
                )
            } else {
                e.context(hint())
            }
        })?;
        docker.ping().await.with_context(hint)?;
        let id = engine_id(&docker, &endpoint.host).await;
        Ok(Self {
            docker,
            host: endpoint.host,
            dial,
            tls: endpoint.tls,
            id,
            _tunnel: tunnel,
        })
    }

    /// Connects to the engine at `host` (`tcp://HOST:PORT`), for example a
    /// node of a Swarm, and agrees on an API version with it.
    pub async fn connect_to(host: &str) -> Result<Self> {
        let docker = plain(host)
            .map(|d| d.with_timeout(std::time::Duration::from_secs(600)))
            .with_context(|| format!("connecting to the engine at `{host}`"))?;
        let docker = docker
            .negotiate_version()
            .await
            .with_context(|| format!("reaching the engine at `{host}`"))?;
        docker
            .ping()
            .await
            .with_context(|| format!("reaching the engine at `{host}`"))?;
        let id = engine_id(&docker, host).await;
        Ok(Self {
            docker,
            host: host.to_string(),
            dial: host.to_string(),
            tls: None,
            id,
            _tunnel: None,
        })
    }
}
