//! One intercepted connection: connect to where the client was going, then relay SMTP line by
//! line in both directions, applying the STARTTLS policy.
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::original_dst::original_dst;
use crate::smtp::{is_starttls, read_line, read_reply, strip_starttls, REFUSAL};

/// What the proxy does about STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StarttlsPolicy {
    /// Strip it from EHLO replies and answer the command with 502 (ISP port-25 proxy).
    Refuse,
    /// Relay it; after the command the connection is relayed byte for byte (TLS passes).
    Pass,
}

/// Settings for every connection.
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// The STARTTLS policy.
    pub starttls: StarttlsPolicy,
    /// Timeout for connecting to the original destination.
    pub connect_timeout: Duration,
    /// A direction idle this long ends the connection.
    pub idle_timeout: Duration,
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("original destination: {0}")]
    OriginalDst(std::io::Error),
    #[error("{0} was not redirected to the proxy (it is the proxy's own address)")]
    NotRedirected(SocketAddr),
    #[error("connect to {to}")]
    Connect {
        to: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// A client socket shared by both directions (the client thread writes the 502 itself), so
/// every reply is written whole.
type SharedWriter = Arc<Mutex<TcpStream>>;

/// Serves one intercepted client connection to its end.
pub fn serve(client: TcpStream, cfg: RelayConfig) -> Result<(), RelayError> {
    let to = SocketAddr::V4(original_dst(&client).map_err(RelayError::OriginalDst)?);
    if Some(to) == client.local_addr().ok() {
        return Err(RelayError::NotRedirected(to));
    }
    let server = TcpStream::connect_timeout(&to, cfg.connect_timeout)
        .map_err(|source| RelayError::Connect { to, source })?;
    for s in [&client, &server] {
        s.set_read_timeout(Some(cfg.idle_timeout))?;
        s.set_nodelay(true)?;
    }
    let client_writer: SharedWriter = Arc::new(Mutex::new(client.try_clone()?));
    let switched = Arc::new(AtomicBool::new(false));
    let downstream = {
        let reader = BufReader::new(server.try_clone()?);
        let writer = Arc::clone(&client_writer);
        let switched = Arc::clone(&switched);
        let server = server.try_clone()?;
        let client = client.try_clone()?;
        std::thread::spawn(move || {
            let result = server_to_client(reader, &writer, cfg.starttls, &switched);
            finish(result.is_ok(), &client, &server);
            result
        })
    };
    let upstream = client_to_server(
        BufReader::new(client.try_clone()?),
        server.try_clone()?,
        &client_writer,
        cfg.starttls,
        &switched,
    );
    finish(upstream.is_ok(), &server, &client);
    let downstream = downstream
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("relay thread panicked")));
    upstream.and(downstream).map_err(RelayError::Io)
}

/// After one direction ended: a clean end half-closes toward `to` (the peer sees EOF); an
/// error tears both sockets down so the other direction stops too.
fn finish(clean: bool, to: &TcpStream, from: &TcpStream) {
    if clean {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }
}

fn write_locked(writer: &SharedWriter, bytes: &[u8]) -> std::io::Result<()> {
    let mut w = writer
        .lock()
        .map_err(|_| std::io::Error::other("client writer poisoned"))?;
    w.write_all(bytes)
}

/// Client commands to the server, line by line; STARTTLS is answered (refuse) or relayed and
/// followed by a byte-for-byte copy (pass).
fn client_to_server(
    mut reader: BufReader<TcpStream>,
    mut server: TcpStream,
    client: &SharedWriter,
    policy: StarttlsPolicy,
    switched: &AtomicBool,
) -> std::io::Result<()> {
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            return Ok(());
        }
        if is_starttls(&line) {
            match policy {
                StarttlsPolicy::Refuse => {
                    write_locked(client, REFUSAL)?;
                    continue;
                }
                StarttlsPolicy::Pass => {
                    switched.store(true, Ordering::SeqCst);
                    server.write_all(&line)?;
                    // What follows is TLS (or plain SMTP if the server declines): bytes.
                    std::io::copy(&mut reader, &mut server)?;
                    return Ok(());
                }
            }
        }
        server.write_all(&line)?;
    }
}

/// Server replies to the client, a whole reply at a time, STARTTLS stripped (refuse); after a
/// passed STARTTLS, byte for byte.
fn server_to_client(
    mut reader: BufReader<TcpStream>,
    client: &SharedWriter,
    policy: StarttlsPolicy,
    switched: &AtomicBool,
) -> std::io::Result<()> {
    loop {
        if switched.load(Ordering::SeqCst) {
            let mut w = client
                .lock()
                .map_err(|_| std::io::Error::other("client writer poisoned"))?
                .try_clone()?;
            std::io::copy(&mut reader, &mut w)?;
            return Ok(());
        }
        let reply = read_reply(&mut reader)?;
        if reply.is_empty() {
            return Ok(());
        }
        let reply = match policy {
            StarttlsPolicy::Refuse => strip_starttls(reply),
            StarttlsPolicy::Pass => reply,
        };
        write_locked(client, &reply.concat())?;
    }
}
