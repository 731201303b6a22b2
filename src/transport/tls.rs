//! HTTPS for the http-stream transport, in our own code (tiny_http's `ssl-rustls` feature
//! pins rustls 0.20, RUSTSEC-2024-0336).
//!
//! [`Acceptor`] loads a PEM certificate chain and a PKCS#8, PKCS#1 (RSA) or SEC1 key
//! through `rustls::pki_types::pem::PemObject` into a rustls 0.23 configuration with the
//! `ring` provider chosen explicitly and TLS 1.2 and 1.3 only. [`Acceptor::reload`]
//! (SIGHUP) swaps the configuration for new connections; a bad pair leaves the old one in
//! service. Open connections keep the configuration they started with.
//!
//! The TLS session of one connection is shared by the front's relay thread (reading the
//! client) and whichever worker or stream thread writes an answer, as a
//! [`TlsReader`]/[`TlsWriter`] pair over one mutex. Socket *reads* happen outside the
//! lock, so a reader blocked waiting for the client never stops a writer of a streamed
//! response; only the short encrypt-and-send and decrypt steps hold it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};

/// Raw TLS bytes read from the socket in one call.
const RAW_READ_BYTES: usize = 16 * 1024;

/// The server side of TLS: the files and the configuration built from them.
pub struct Acceptor {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl Acceptor {
    /// Loads and checks the pair; the error names the file and the problem.
    pub fn load(cert: &Path, key: &Path) -> Result<Acceptor, String> {
        let config = build_config(cert, key)?;
        Ok(Acceptor {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(config),
        })
    }

    /// Re-reads the files; on error the configuration in service is kept.
    pub fn reload(&self) -> Result<(), String> {
        let config = build_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// Starts the TLS session of one accepted connection with the current configuration.
    pub fn start(&self, sock: Arc<TcpStream>) -> io::Result<(TlsReader, TlsWriter)> {
        let config = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            sock,
            conn: Mutex::new(conn),
        });
        let reader = TlsReader {
            shared: Arc::clone(&shared),
            pending: Vec::new(),
            raw: vec![0; RAW_READ_BYTES].into_boxed_slice(),
        };
        Ok((reader, TlsWriter { shared }))
    }
}

/// Builds a server configuration: ring, TLS 1.3 and 1.2, HTTP/1.1 via ALPN.
///
/// Not `with_single_cert`: its consistency check parses the certificate with webpki,
/// which rejects X.509 v1, and v1 is what the deployment guide's self-signed recipe
/// (`openssl x509 -req` without extensions) produces. We check instead that the key's
/// SubjectPublicKeyInfo appears in the leaf certificate, which holds for every version.
fn build_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("--ssl-certfile: cannot read '{}': {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--ssl-certfile: bad PEM in '{}': {e}", cert.display()))?;
    let Some(leaf) = certs.first() else {
        return Err(format!(
            "--ssl-certfile: no CERTIFICATE block in '{}'",
            cert.display()
        ));
    };
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "--ssl-keyfile: no usable PKCS#8, RSA or EC private key in '{}': {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("--ssl-keyfile: unusable key in '{}': {e}", key.display()))?;
    let fits = signing_key
        .public_key()
        .is_some_and(|spki| contains(leaf.as_ref(), spki.as_ref()));
    if !fits {
        return Err(format!(
            "--ssl-keyfile: '{}' does not fit the certificate in '{}' (their public keys differ)",
            key.display(),
            cert.display()
        ));
    }
    if !has_version_field(leaf.as_ref()) {
        log::warn!(
            "'{}' is an X.509 v1 certificate: curl and OpenSSL accept it, browsers and \
             rustls-based clients do not (add a subjectAltName extension to get v3)",
            cert.display()
        );
    }
    let certified = Arc::new(CertifiedKey::new(certs, signing_key));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Always the one certificate (no SNI-based choice).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a DER certificate's TBSCertificate starts with the `[0] version` field that
/// X.509 v2/v3 carry (v1 omits it).
fn has_version_field(cert: &[u8]) -> bool {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version ... } ... }
    let Some(tbs) = der_content(cert) else {
        return false;
    };
    der_content(tbs).and_then(|inner| inner.first()) == Some(&0xA0)
}

/// The content of the DER element at the start of `bytes` (definite lengths only).
fn der_content(bytes: &[u8]) -> Option<&[u8]> {
    let first_len = *bytes.get(1)?;
    let (header, len) = if first_len < 0x80 {
        (2, usize::from(first_len))
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    bytes.get(header..header + len)
}

struct Shared {
    sock: Arc<TcpStream>,
    conn: Mutex<ServerConnection>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends whatever rustls has queued (handshake, records, alerts).
    fn flush(&self, conn: &mut ServerConnection) -> io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(&mut &*self.sock)?;
        }
        Ok(())
    }
}

/// The decrypting half: plaintext from the client.
pub struct TlsReader {
    shared: Arc<Shared>,
    /// Raw bytes read from the socket that rustls has not taken yet.
    pending: Vec<u8>,
    raw: Box<[u8]>,
}

impl TlsReader {
    /// Whether a read can return data without waiting for the socket: raw bytes rustls
    /// has not taken yet, or decrypted bytes not read yet. (An error counts as data: the
    /// next read reports it.)
    pub fn buffered(&self) -> bool {
        if !self.pending.is_empty() {
            return true;
        }
        let mut conn = self.shared.lock();
        conn.process_new_packets()
            .map_or(true, |state| state.plaintext_bytes_to_read() > 0)
    }

    /// Hands buffered raw bytes to rustls until it has plaintext or needs more.
    fn feed(&mut self, conn: &mut ServerConnection) -> io::Result<()> {
        while !self.pending.is_empty() {
            let mut slice = &self.pending[..];
            let taken = conn.read_tls(&mut slice)?;
            self.pending.drain(..taken);
            let state = match conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    let _ = self.shared.flush(conn); // the alert, best effort
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            };
            if taken == 0 || state.plaintext_bytes_to_read() > 0 {
                break;
            }
        }
        self.shared.flush(conn)
    }
}

impl Read for TlsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let shared = Arc::clone(&self.shared);
                let mut conn = shared.lock();
                self.feed(&mut conn)?;
                match conn.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // Outside the lock: the writer half may send while we wait for the client.
            let n = (&*self.shared.sock).read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.extend_from_slice(&self.raw[..n]);
        }
    }
}

/// The encrypting half: plaintext to the client. Cheap to clone.
#[derive(Clone)]
pub struct TlsWriter {
    shared: Arc<Shared>,
}

impl TlsWriter {
    /// Sends `close_notify` and closes the socket in both directions.
    pub fn close(&self) {
        let mut conn = self.shared.lock();
        conn.send_close_notify();
        let _ = self.shared.flush(&mut conn);
        let _ = self.shared.sock.shutdown(Shutdown::Both);
    }

    /// Whether the handshake has finished.
    pub fn handshake_done(&self) -> bool {
        !self.shared.lock().is_handshaking()
    }
}

impl TlsWriter {
    /// Encrypts what rustls takes of `data` and sends what the socket takes now, without
    /// waiting; how much of `data` was taken. Records left unsent show in [`Self::unsent`].
    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        let mut conn = self.shared.lock();
        let taken = conn.writer().write(data)?;
        while conn.wants_write() {
            if conn.write_tls(&mut NoWait(&self.shared.sock))? == 0 {
                break;
            }
        }
        Ok(taken)
    }

    /// Whether rustls holds records the socket has not taken yet.
    pub fn unsent(&self) -> bool {
        self.shared.lock().wants_write()
    }

    /// See [`wait_writable`].
    pub fn wait_writable(&self, timeout: Duration) -> io::Result<bool> {
        wait_writable(&self.shared.sock, timeout)
    }
}

/// Waits at most `timeout` (rounded up to a millisecond) until the socket takes more bytes;
/// whether it does (an error state counts: the next write reports it). A signal ends the
/// wait early with `false`.
pub fn wait_writable(sock: &TcpStream, timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
    // SAFETY: poll(2) on one pollfd that lives through the call, for a socket we hold.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(n > 0)
}

/// Sends what the socket takes now (`MSG_DONTWAIT`); 0 when its buffer is full.
pub fn send_now(sock: &TcpStream, data: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: send(2) reads `data.len()` bytes from a live slice on a socket we hold.
        let n = unsafe {
            libc::send(
                sock.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// The socket as rustls's output, never waiting: a full buffer reads as 0 bytes written.
struct NoWait<'a>(&'a TcpStream);

impl Write for NoWait<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        send_now(self.0, data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for TlsWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut conn = self.shared.lock();
        let n = conn.writer().write(data)?;
        self.shared.flush(&mut conn)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut conn = self.shared.lock();
        self.shared.flush(&mut conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_version_field() {
        // SEQUENCE { SEQUENCE { [0] ... } }: v3 shape; without [0]: v1 shape.
        assert!(has_version_field(&[
            0x30, 0x05, 0x30, 0x03, 0xA0, 0x01, 0x02
        ]));
        assert!(!has_version_field(&[
            0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01
        ]));
        assert!(!has_version_field(&[0x30]));
        let long = [&[0x30, 0x81, 0x05, 0x30, 0x03, 0xA0, 0x01, 0x02][..]].concat();
        assert!(has_version_field(&long));
    }

    #[test]
    fn subsequences() {
        assert!(contains(b"abcdef", b"cde"));
        assert!(!contains(b"abcdef", b"xyz"));
        assert!(!contains(b"abc", b""));
    }
}
