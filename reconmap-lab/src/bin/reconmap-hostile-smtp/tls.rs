//! TLS after `220 Ready to start TLS`, as a real server does it: a rustls server handshake on
//! the connection, then SMTP inside TLS (`QUIT` gets `221`, then close_notify).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::behaviour::{self, Command};
use crate::session::Ending;

/// The server's TLS configuration from a PEM certificate chain and key (TLS 1.2 and 1.3).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("read {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parse {}: {e}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("read {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(cfg))
}

/// Runs TLS on `stream` (whose reader has nothing buffered: the client waits for the `220`),
/// then the SMTP commands inside it until QUIT or the client's end.
pub fn serve(stream: TcpStream, cfg: Arc<ServerConfig>) -> std::io::Result<Ending> {
    let conn = ServerConnection::new(cfg).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    // Drive the handshake: rustls completes it on the first read or write.
    while tls.conn.is_handshaking() {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok((0, 0)) => return Ok(Ending::ClientClosed),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    let mut input = BufReader::new(&mut tls);
    loop {
        let mut line = Vec::new();
        let n = input.by_ref().take(4096).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(Ending::ClientClosed);
        }
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        let reply: Vec<u8> = match Command::of(&line) {
            Command::Quit => behaviour::BYE.to_vec(),
            Command::Ehlo => behaviour::EHLO_REPLY.to_vec(),
            _ => behaviour::unrecognized(&line),
        };
        let tls = input.get_mut();
        tls.write_all(&reply)?;
        if Command::of(&line) == Command::Quit {
            tls.conn.send_close_notify();
            tls.flush()?;
            let _ = tls.conn.complete_io(&mut tls.sock);
            return Ok(Ending::Quit);
        }
        tls.flush()?;
    }
}
