//! The server images' health check. They run on a distroless base, with no shell and
//! no curl, so each server binary has a `probe` subcommand that asks its own running
//! instance for `GET /health` with nothing but a TCP socket, and Docker's `HEALTHCHECK`
//! reads the exit code (0 healthy, 1 not).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long the probe waits to connect, and then for the answer, before calling the
/// server unhealthy. Docker's own timeout (`HEALTHCHECK --timeout`) should be longer.
pub const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("port 0 means \"any free port\": set the port the server listens on")]
    AnyPort,
    #[error("cannot resolve {0}")]
    Resolve(String),
    // The I/O error is named `error`, not `source`: it is part of this message, and
    // `anyhow` would otherwise print it twice.
    #[error("cannot reach {addr}: {error}")]
    Connect { addr: SocketAddr, error: std::io::Error },
    #[error("no answer from {addr}: {error}")]
    Exchange { addr: SocketAddr, error: std::io::Error },
    #[error("{addr} answered {status_line:?}, not 200")]
    Unhealthy { addr: SocketAddr, status_line: String },
}

/// Asks the server listening on `host:port` for `/health`; `Ok` if it answers 200.
/// A server bound to every interface (`0.0.0.0`, `::`) is asked on loopback.
pub fn health(host: &str, port: u16) -> Result<(), ProbeError> {
    if port == 0 {
        return Err(ProbeError::AnyPort);
    }
    let addr = target(host, port)?;
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|error| ProbeError::Connect { addr, error })?;
    let status_line = exchange(stream).map_err(|error| ProbeError::Exchange { addr, error })?;
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(ProbeError::Unhealthy { addr, status_line: status_line.trim_end().to_owned() }),
    }
}

/// The address to ask: loopback for a wildcard bind, else `host` resolved.
fn target(host: &str, port: u16) -> Result<SocketAddr, ProbeError> {
    let host = match host.trim_matches(['[', ']']) {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ProbeError::Resolve(format!("{host}:{port}")))
}

/// Sends the request and returns the response's status line.
fn exchange(mut stream: TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line)?;
    Ok(status_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A one-shot HTTP server answering `status_line`; returns its port and the
    /// request it received.
    fn answer_once(status_line: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = socket.read(&mut request).unwrap();
            write!(socket, "{status_line}\r\ncontent-length: 2\r\n\r\nok").unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        (port, server)
    }

    #[test]
    fn healthy_on_200_asking_for_the_health_route() {
        let (port, server) = answer_once("HTTP/1.1 200 OK");
        health("127.0.0.1", port).unwrap();
        assert!(server.join().unwrap().starts_with("GET /health HTTP/1.1\r\n"));
    }

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback() {
        let (port, server) = answer_once("HTTP/1.1 200 OK");
        health("0.0.0.0", port).unwrap();
        server.join().unwrap();
    }

    #[test]
    fn unhealthy_on_any_other_status() {
        let (port, server) = answer_once("HTTP/1.1 503 Service Unavailable");
        let err = health("127.0.0.1", port).unwrap_err();
        assert!(
            matches!(&err, ProbeError::Unhealthy { status_line, .. } if status_line == "HTTP/1.1 503 Service Unavailable"),
            "{err}"
        );
        server.join().unwrap();
    }

    #[test]
    fn unhealthy_when_nothing_listens() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(matches!(health("127.0.0.1", port), Err(ProbeError::Connect { .. })));
    }

    #[test]
    fn port_zero_cannot_be_probed() {
        assert!(matches!(health("127.0.0.1", 0), Err(ProbeError::AnyPort)));
    }

    #[test]
    fn a_server_that_closes_without_answering_is_unhealthy() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || drop(listener.accept().unwrap()));
        assert!(health("127.0.0.1", port).is_err());
        server.join().unwrap();
    }
}
