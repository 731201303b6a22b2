//! `mcp-server-spec healthcheck`: GET `/health` over HTTP or HTTPS and report whether it
//! answered 200, so images without curl (a `FROM scratch` container) can health-check.
//!
//! Certificates: `--cacert FILE` trusts the PEM certificates in FILE (a self-signed server);
//! otherwise the system bundle is used when there is one; `--insecure` accepts any
//! certificate (the handshake signature is still checked).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};

/// The URL probed when none is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3001/health";
/// How long the whole probe may take when no timeout is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response head read (a health answer is tiny).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// System CA bundles, in the order they are tried.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// What to probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: String,
    pub timeout: Duration,
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
}

/// A parsed `http(s)://host[:port]/path`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "--url: {url:?} must start with http:// or https://"
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("--url: bad IPv6 host in {url:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .map_err(|_| format!("--url: bad port in {url:?}"))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("--url: bad host in {url:?}")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("--url: bad port in {url:?}"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("--url: no host in {url:?}"));
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

/// Checks that the URL parses, so a typo is a usage error (exit 2), not "unhealthy".
pub fn validate_url(url: &str) -> Result<(), String> {
    parse_url(url).map(drop)
}

/// Runs the probe: `Ok` with the status line when the server answered 200.
pub fn run(probe: &Probe) -> Result<String, String> {
    let target = parse_url(&probe.url)?;
    let deadline = Instant::now() + probe.timeout;
    let tcp = connect(&target, probe.timeout)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mcp-server-spec-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        target.path,
        host_header(&target)
    );
    let head = if target.tls {
        let config = tls_config(probe)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("bad TLS server name: {e}"))?;
        let conn =
            ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))?;
        exchange(StreamOwned::new(conn, tcp), &request, deadline)?
    } else {
        exchange(tcp, &request, deadline)?
    };
    let status_line = head.lines().next().unwrap_or_default().trim().to_string();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(status_line),
        Some(_) => Err(format!("{} answered {status_line:?}", probe.url)),
        None => Err(format!("{} sent no HTTP status line", probe.url)),
    }
}

fn host_header(t: &Target) -> String {
    if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    }
}

fn connect(t: &Target, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", t.host))?
        .collect();
    let mut last = format!("no address for {}", t.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Sends the request and reads until the end of the response head.
fn exchange<S: Read + Write>(
    mut stream: S,
    request: &str,
    deadline: Instant,
) -> Result<String, String> {
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if Instant::now() > deadline || head.len() > MAX_HEAD_BYTES {
            return Err("no complete response head in time".to_string());
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn tls_config(probe: &Probe) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let trust = if probe.insecure {
        Trust::Any
    } else {
        pinned_or_chain(probe, &provider)?
    };
    let verifier = Arc::new(Verifier { trust, provider });
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The certificates of `--cacert` (or the system bundle) as pins and as trust anchors.
fn pinned_or_chain(probe: &Probe, provider: &Arc<CryptoProvider>) -> Result<Trust, String> {
    let bundle = match &probe.cacert {
        Some(path) => path.clone(),
        None => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("no CA certificates found: pass --cacert FILE, or --insecure for a self-signed server")?,
    };
    let bad = |e: &dyn std::fmt::Display| format!("--cacert {}: {e}", bundle.display());
    let mut roots = RootCertStore::empty();
    let mut pinned = Vec::new();
    for cert in CertificateDer::pem_file_iter(&bundle).map_err(|e| bad(&e))? {
        let cert = cert.map_err(|e| bad(&e))?;
        pinned.push(cert.clone().into_owned());
        // A v1 or otherwise unusual self-signed certificate may not be a valid trust anchor;
        // it can still be pinned.
        let _ = roots.add(cert);
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| bad(&e))?;
    Ok(Trust::PinnedOrChain { pinned, chain })
}

/// Which server certificates the probe accepts.
#[derive(Debug)]
enum Trust {
    /// `--insecure`: any certificate.
    Any,
    /// Exactly one of the `--cacert` certificates (a self-signed server: webpki refuses a CA
    /// certificate used as the end entity), or a chain to one of them.
    PinnedOrChain {
        pinned: Vec<CertificateDer<'static>>,
        chain: Arc<WebPkiServerVerifier>,
    },
}

/// Applies [`Trust`] to the certificate; the handshake signature is always checked.
#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.trust {
            Trust::Any => Ok(ServerCertVerified::assertion()),
            Trust::PinnedOrChain { pinned, .. }
                if pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Trust::PinnedOrChain { chain, .. } => {
                chain.verify_server_cert(end_entity, intermediates, name, ocsp, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:3001/health").expect("valid");
        assert_eq!(
            t,
            Target {
                tls: false,
                host: "127.0.0.1".into(),
                port: 3001,
                path: "/health".into()
            }
        );
        let t = parse_url("https://[::1]:8443/health").expect("valid");
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 8443));
        let t = parse_url("https://example.com").expect("valid");
        assert_eq!((t.port, t.path.as_str()), (443, "/"));
        for bad in [
            "ftp://x/",
            "http://:80/",
            "http://host:port/",
            "localhost:3001",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refused_connection_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let probe = Probe {
            url: format!("http://127.0.0.1:{port}/health"),
            timeout: Duration::from_secs(2),
            insecure: false,
            cacert: None,
        };
        assert!(run(&probe)
            .expect_err("nobody listens")
            .contains("cannot connect"));
    }
}
