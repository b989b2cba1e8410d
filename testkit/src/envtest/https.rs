//! A blocking HTTPS/1.1 client of one request per connection, enough to drive the API server
//! from tests without kubectl (a fresh CI machine may not have it): rustls with the harness's
//! CA as the only root, a bearer token, bounded reads and a time limit per request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

/// Largest answer read (the API server's LISTs in these tests are a few KiB).
const MAX_ANSWER: u64 = 64 << 20;
/// Time limit of one request's connect, write and each read.
const REQUEST_TIME: Duration = Duration::from_secs(60);

/// An answer: status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) struct Client {
    port: u16,
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    pub(crate) fn new(port: u16, ca_der: &[u8]) -> Result<Client, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca_der.to_vec()))
            .map_err(|e| format!("CA as a root: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Client {
            port,
            config: Arc::new(config),
        })
    }

    /// `method path` with `token`, and `body` of `content_type` when given.
    pub(crate) fn request(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Answer, String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let sock = TcpStream::connect_timeout(&addr, REQUEST_TIME)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        sock.set_read_timeout(Some(REQUEST_TIME))
            .and_then(|()| sock.set_write_timeout(Some(REQUEST_TIME)))
            .map_err(|e| format!("socket timeouts: {e}"))?;
        let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| format!("TLS: {e}"))?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\nConnection: close\r\n",
            self.port
        );
        let (ctype, bytes) = body.unwrap_or(("", &[]));
        if body.is_some() {
            head += &format!("Content-Type: {ctype}\r\n");
        }
        head += &format!("Content-Length: {}\r\n\r\n", bytes.len());
        tls.write_all(head.as_bytes())
            .and_then(|()| tls.write_all(bytes))
            .and_then(|()| tls.flush())
            .map_err(|e| format!("{method} {path}: write: {e}"))?;
        let mut raw = Vec::new();
        // A server that closes without close_notify ends the stream with UnexpectedEof: the
        // framing below says whether the answer is whole.
        if let Err(e) = (&mut tls).take(MAX_ANSWER).read_to_end(&mut raw)
            && e.kind() != std::io::ErrorKind::UnexpectedEof
        {
            return Err(format!("{method} {path}: read: {e}"));
        }
        parse(&raw).map_err(|e| format!("{method} {path}: {e}"))
    }
}

/// Status line, headers and body (Content-Length or chunked) of a whole HTTP/1.1 answer.
fn parse(raw: &[u8]) -> Result<Answer, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = v.parse::<usize>().ok();
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| format!("body cut at {} of {n} bytes", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Answer { status, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut")?;
        let size = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {size:?}: {e}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("chunk cut")?);
        rest = rest.get(size + 2..).ok_or("chunk cut")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies_are_read_whole() {
        let a = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!((a.status, a.text().as_str()), (200, "abcde"));
        let a = parse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno").unwrap();
        assert_eq!((a.status, a.text().as_str()), (404, "no"));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
    }
}
