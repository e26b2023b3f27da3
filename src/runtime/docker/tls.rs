//! TLS to an engine, for the request labctl makes itself (the raw
//! `docker inspect` document): the client certificate, key and CA the
//! docker CLI would use, as bollard's client does for the rest.

use anyhow::Result;
use tokio::net::TcpStream;

use crate::runtime::endpoint::Tls;

/// `stream`, to the engine at `addr` (`HOST:PORT`), over TLS.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
pub(super) async fn connect(
    addr: &str,
    tls: &Tls,
    stream: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let file = |name: &str| tls.dir.join(name);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file("ca.pem"))
        .with_context(|| format!("reading `{}`", file("ca.pem").display()))?
    {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_file_iter(file("cert.pem"))
        .with_context(|| format!("reading `{}`", file("cert.pem").display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(file("key.pem"))
        .with_context(|| format!("reading `{}`", file("key.pem").display()))?;
    // ring, as bollard's own TLS client (its `ssl` feature) uses; rustls
    // marks it deprecated for lacking post-quantum key exchange, which
    // dockerd's TLS does not offer either.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    Ok(connector.connect(name, stream).await?)
}

/// Where labctl speaks no TLS, the endpoint refused the engine before.
#[cfg(not(all(target_os = "linux", not(target_env = "musl"))))]
pub(super) async fn connect(addr: &str, _tls: &Tls, stream: TcpStream) -> Result<TcpStream> {
    let _ = stream;
    anyhow::bail!("labctl speaks TLS to `{addr}` on Linux hosts only")
}
