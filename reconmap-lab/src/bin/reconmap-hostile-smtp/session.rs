//! One SMTP conversation: the normal script, with the configured behaviour's change.
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

use reconmap_lab::seeded::SeededRng;

use crate::behaviour::{self, Behaviour, Command};
use crate::output::{self, Output, Pacing};

/// Longest client line read as one command; a longer one is taken in pieces of this size.
const MAX_LINE: u64 = 4096;
/// Lines of the flood's short-line block, and the length of its long line.
const FLOOD_LINES: usize = 500;
const FLOOD_LONG_LINE: usize = 100_000;

/// What a session needs to know besides its socket.
#[derive(Debug, Clone)]
pub struct Settings {
    pub behaviour: Behaviour,
    /// TLS after `220` (with a certificate); `None`: the server only waits for the client to go.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The behaviour's pause (drip, split, slow-starttls).
    pub delay: Duration,
    pub seed: u64,
}

/// How a session ended (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed first.
    ClientClosed,
    /// The client said QUIT and the server closed.
    Quit,
    /// The server closed after refusing the session (421).
    Refused,
    /// The server reset the connection.
    Reset,
}

/// Runs the conversation on `stream` until it ends.
pub fn serve(stream: TcpStream, settings: &Settings) -> std::io::Result<Ending> {
    let behaviour = settings.behaviour;
    let pacing = match behaviour {
        Behaviour::Drip => Pacing::Drip(settings.delay),
        Behaviour::Split => Pacing::Split {
            rng: SeededRng::new(settings.seed),
            gap: settings.delay,
        },
        _ => Pacing::Whole,
    };
    let mut input = BufReader::new(&stream);
    if behaviour == Behaviour::Mute {
        return drain(&mut input);
    }
    let mut out = Output::new(&stream, pacing)?;
    if behaviour == Behaviour::Flood {
        return flood(&mut out);
    }
    out.send(behaviour.banner())?;
    loop {
        let Some(line) = read_line(&mut input)? else {
            return Ok(Ending::ClientClosed);
        };
        match (Command::of(&line), behaviour) {
            (Command::Ehlo, Behaviour::Reply421ToEhlo) => {
                out.send(behaviour::TRY_LATER)?;
                return Ok(Ending::Refused);
            }
            (Command::Ehlo, Behaviour::RstBeforeStarttls) => {
                out.send(behaviour.ehlo_reply())?;
                output::reset(stream)?;
                return Ok(Ending::Reset);
            }
            (Command::Ehlo, _) => out.send(behaviour.ehlo_reply())?,
            (Command::Starttls, Behaviour::NoStarttls) => out.send(behaviour::NOT_IMPLEMENTED)?,
            (Command::Starttls, Behaviour::MuteAfterStarttls) => return drain(&mut input),
            (Command::Starttls, Behaviour::FinWithReply220) => {
                out.send_with_fin(behaviour::TLS_READY)?;
                return drain(&mut input);
            }
            (Command::Starttls, Behaviour::FinWithReply500) => {
                out.send_with_fin(behaviour::REJECTED_XXXXXXXX)?;
                return drain(&mut input);
            }
            (Command::Starttls, _) => {
                if behaviour == Behaviour::SlowStarttls {
                    std::thread::sleep(settings.delay);
                }
                out.send(behaviour::TLS_READY)?;
                // The client now starts TLS (nothing of it can be buffered yet: it waited for
                // the 220).
                return match &settings.tls {
                    Some(cfg) if input.buffer().is_empty() => {
                        crate::tls::serve(stream, cfg.clone())
                    }
                    _ => drain(&mut input),
                };
            }
            (Command::Quit, Behaviour::FinWithQuit) => {
                out.send_with_fin(behaviour::BYE)?;
                return Ok(Ending::Quit);
            }
            (Command::Quit, _) => {
                out.send(behaviour::BYE)?;
                return Ok(Ending::Quit);
            }
            (Command::Other, _) => out.send(&behaviour::unrecognized(&line))?,
        }
    }
}

/// One client line without its CR LF; `None` when the client has closed.
fn read_line<R: BufRead>(input: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = input.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads and discards until the client closes.
fn drain<R: Read>(input: &mut R) -> std::io::Result<Ending> {
    let mut sink = [0u8; 4096];
    loop {
        if input.read(&mut sink)? == 0 {
            return Ok(Ending::ClientClosed);
        }
    }
}

/// The banner, then `250-` lines and very long lines until a write fails (the client left or
/// stopped reading for longer than the write timeout).
fn flood(out: &mut Output<'_>) -> std::io::Result<Ending> {
    let mut short = behaviour::BANNER.to_vec();
    for i in 0..FLOOD_LINES {
        short
            .extend_from_slice(format!("250-{} flood line {i:05}\r\n", behaviour::HOST).as_bytes());
    }
    let mut long = b"250-".to_vec();
    long.resize(4 + FLOOD_LONG_LINE, b'A');
    long.extend_from_slice(b"\r\n");
    out.send(&short)?;
    let short = short.get(behaviour::BANNER.len()..).unwrap_or_default();
    loop {
        out.send(&long)?;
        out.send(short)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_end_and_long_lines_come_in_pieces() {
        let mut input: &[u8] = b"EHLO a\r\nQUIT\n";
        assert_eq!(
            read_line(&mut input).expect("line"),
            Some(b"EHLO a".to_vec())
        );
        assert_eq!(read_line(&mut input).expect("line"), Some(b"QUIT".to_vec()));
        assert_eq!(read_line(&mut input).expect("eof"), None);
        let long = vec![b'x'; 5000];
        let mut input: &[u8] = &long;
        let first = read_line(&mut input).expect("line").expect("some");
        assert_eq!(first.len(), 4096);
    }
}
