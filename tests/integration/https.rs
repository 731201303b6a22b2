//! HTTPS through the real binary with the test certificates in tests/fixtures/tls/: every
//! key encoding, TLS 1.2 and 1.3, start-up failures (exit 2), and SIGHUP reloads that keep
//! open connections and keep the old pair when the new one is bad.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use serde_json::Value;

use crate::http_client::{modern, raw_request, with_json, Conn, HttpServer};
use crate::support::{run, TempDir};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn der(cert: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(cert)
        .expect("fixture certificate")
        .to_vec()
}

/// Accepts any server certificate (they are self-signed) but records it, so tests can
/// tell which one the server presented. Signatures are still checked.
#[derive(Debug)]
pub(crate) struct Recording {
    seen: Mutex<Vec<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
    /// webpki cannot parse X.509 v1 certificates, so their handshake signatures can only
    /// be taken on trust here (curl and OpenSSL check them).
    check_signatures: bool,
}

impl Recording {
    pub(crate) fn new(provider: Arc<CryptoProvider>, check_signatures: bool) -> Recording {
        Recording {
            seen: Mutex::new(Vec::new()),
            provider,
            check_signatures,
        }
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen.lock().expect("lock").push(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.check_signatures {
            return Ok(HandshakeSignatureValid::assertion());
        }
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
        if !self.check_signatures {
            return Ok(HandshakeSignatureValid::assertion());
        }
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

/// A TLS connection (handshake done); the certificate the server presented; the version.
fn tls_connect(port: u16, tls12_only: bool) -> (Conn, Vec<u8>, rustls::ProtocolVersion) {
    tls_connect_with(port, tls12_only, true)
}

fn tls_connect_with(
    port: u16,
    tls12_only: bool,
    check_signatures: bool,
) -> (Conn, Vec<u8>, rustls::ProtocolVersion) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let verifier = Arc::new(Recording::new(Arc::clone(&provider), check_signatures));
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(crate::support::DEADLINE))
        .expect("timeout");
    let mut stream = StreamOwned::new(conn, tcp.try_clone().expect("clone"));
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    let version = stream.conn.protocol_version().expect("negotiated");
    let cert = verifier
        .seen
        .lock()
        .expect("lock")
        .pop()
        .expect("a certificate");
    (Conn::over(Box::new(stream), tcp), cert, version)
}

fn https_server(tag: &str, cert: &Path, key: &Path) -> (TempDir, HttpServer) {
    let dir = TempDir::new(tag);
    let (c, k) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let s = HttpServer::start(dir.path(), &["--ssl-certfile", c, "--ssl-keyfile", k]);
    assert!(s.https, "the bound URL is https");
    (dir, s)
}

#[test]
fn https_with_each_key_encoding() {
    for pair in ["a", "b", "c"] {
        let cert = fixture(&format!("{pair}.crt"));
        let (_dir, s) = https_server("https-keys", &cert, &fixture(&format!("{pair}.key")));
        let (mut conn, presented, version) = tls_connect(s.port, false);
        assert_eq!(presented, der(&cert), "pair {pair}");
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
        conn.send(&raw_request("GET", "/health", s.port, &[], None));
        let health = conn.response().json();
        assert_eq!(
            (health["status"].clone(), health["tls"].clone()),
            ("healthy".into(), true.into())
        );
        let (body, headers) = modern(1, "tools/list", Value::Null);
        let origin = format!("https://localhost:{}", s.port);
        let mut all = with_json(&headers);
        all.push(("Origin", &origin));
        conn.send(&raw_request(
            "POST",
            "/mcp",
            s.port,
            &all,
            Some(&body.to_string()),
        ));
        let r = conn.response();
        assert_eq!(r.status, 200, "pair {pair}: {}", r.text());
        assert!(r.json()["result"]["tools"].is_array());
    }
}

/// The deployment guide's own recipe (genrsa, req -new, x509 -req -signkey) makes an
/// X.509 v1 certificate; it must serve, with a warning.
#[test]
fn the_deployment_guides_self_signed_certificate_serves() {
    let cert = fixture("d.crt");
    let (_dir, mut s) = https_server("https-guide", &cert, &fixture("d.key"));
    s.wait_log("X.509 v1 certificate");
    let (mut conn, presented, _) = tls_connect_with(s.port, false, false);
    assert_eq!(presented, der(&cert));
    conn.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(conn.response().json()["status"], "healthy");
}

#[test]
fn tls12_clients_and_plaintext_mistakes() {
    let (_dir, s) = https_server("https-12", &fixture("a.crt"), &fixture("a.key"));
    let (mut conn, _, version) = tls_connect(s.port, true);
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);
    conn.send(&raw_request("GET", "/info", s.port, &[], None));
    assert_eq!(conn.response().json()["features"]["https"], true);
    // Plain HTTP to the TLS port is dropped without harm to anyone else.
    let mut plain = s.connect();
    plain.send(&raw_request("GET", "/health", s.port, &[], None));
    assert!(plain.closed());
    let (mut again, _, _) = tls_connect(s.port, false);
    again.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(again.response().status, 200);
}

#[test]
fn bad_certificate_files_fail_at_start_with_exit_2() {
    let dir = TempDir::new("https-bad");
    let ws = dir.path().to_str().expect("utf-8").to_string();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let (a_crt, b_key, a_key) = (fixture("a.crt"), fixture("b.key"), fixture("a.key"));
    let d_crt = fixture("d.crt");
    let cases: [(&Path, &Path, &str); 4] = [
        (&a_crt, &b_key, "does not fit"),
        (&d_crt, &a_key, "does not fit"),
        (&garbage, &a_key, "no CERTIFICATE"),
        (&a_crt, &garbage, "--ssl-keyfile"),
    ];
    for (cert, key, expected) in cases {
        let (code, _, err) = run(&[
            "--transport",
            "http-stream",
            "--port",
            "0",
            "--workspace",
            &ws,
            "--ssl-certfile",
            cert.to_str().expect("utf-8"),
            "--ssl-keyfile",
            key.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, Some(2), "{cert:?} {key:?}: {err}");
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_connections() {
    let dir = TempDir::new("https-reload");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::copy(fixture("a.crt"), &cert).expect("copy");
    std::fs::copy(fixture("a.key"), &key).expect("copy");
    let (_ws, mut s) = https_server("https-reload-ws", &cert, &key);
    let (mut old, presented, _) = tls_connect(s.port, false);
    assert_eq!(presented, der(&fixture("a.crt")));
    old.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(old.response().status, 200);

    // certbot renews: new files, SIGHUP.
    std::fs::copy(fixture("b.crt"), &cert).expect("copy");
    std::fs::copy(fixture("b.key"), &key).expect("copy");
    s.signal(libc::SIGHUP);
    s.wait_log("TLS certificate and key reloaded");
    let (mut new, presented, _) = tls_connect(s.port, false);
    assert_eq!(presented, der(&fixture("b.crt")));
    new.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(new.response().status, 200);
    // The connection opened before the reload still works.
    old.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(old.response().status, 200);

    // A bad pair is refused and the one in service stays.
    std::fs::copy(fixture("c.crt"), &cert).expect("copy"); // c.crt with b.key: mismatch
    s.signal(libc::SIGHUP);
    s.wait_log("TLS reload failed");
    let (mut after, presented, _) = tls_connect(s.port, false);
    assert_eq!(presented, der(&fixture("b.crt")));
    after.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(after.response().status, 200);
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(), Some(0));
}

/// Measures what HTTPS costs against plain HTTP on this machine (numbers for the
/// documentation, not a pass/fail check). Run it against a release binary:
/// `cargo test --release --test integration tls_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
#[allow(clippy::print_stderr)]
fn tls_cost_against_plain_http() {
    use std::time::Instant;
    const KEEP_ALIVE_REQUESTS: usize = 4000;
    const CLIENTS: usize = 16;
    const NEW_CONNECTIONS: usize = 300;

    let dir = TempDir::new("tls-cost");
    let plain = HttpServer::start(dir.path(), &["--log-level", "warn"]);
    let (c, k) = (fixture("a.crt"), fixture("a.key"));
    let tls = HttpServer::start(
        dir.path(),
        &[
            "--log-level",
            "warn",
            "--ssl-certfile",
            c.to_str().expect("utf-8"),
            "--ssl-keyfile",
            k.to_str().expect("utf-8"),
        ],
    );
    let connect = |port: u16, https: bool| -> Conn {
        if https {
            tls_connect(port, false).0
        } else {
            Conn::plain(port)
        }
    };
    for (label, server) in [("http", &plain), ("https", &tls)] {
        let port = server.port;
        let https = server.https;
        // Sequential keep-alive requests on one connection.
        let mut conn = connect(port, https);
        let request = raw_request("GET", "/health", port, &[], None);
        let start = Instant::now();
        for _ in 0..KEEP_ALIVE_REQUESTS {
            conn.send(&request);
            assert_eq!(conn.response().status, 200);
        }
        let sequential = KEEP_ALIVE_REQUESTS as f64 / start.elapsed().as_secs_f64();
        // Concurrent keep-alive clients.
        let start = Instant::now();
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let request = request.clone();
                std::thread::spawn(move || {
                    let mut conn = if https {
                        tls_connect(port, false).0
                    } else {
                        Conn::plain(port)
                    };
                    for _ in 0..KEEP_ALIVE_REQUESTS / CLIENTS {
                        conn.send(&request);
                        assert_eq!(conn.response().status, 200);
                    }
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().expect("client"));
        let concurrent = KEEP_ALIVE_REQUESTS as f64 / start.elapsed().as_secs_f64();
        // A new connection (and for HTTPS a full handshake) per request.
        let start = Instant::now();
        for _ in 0..NEW_CONNECTIONS {
            let mut conn = connect(port, https);
            conn.send(&request);
            assert_eq!(conn.response().status, 200);
        }
        let per_connection = NEW_CONNECTIONS as f64 / start.elapsed().as_secs_f64();
        eprintln!("| {label} | {sequential:.0} | {concurrent:.0} | {per_connection:.0} |");
    }
}
