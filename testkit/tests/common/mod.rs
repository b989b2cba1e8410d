//! A tiny blocking HTTP/1.1 client over TcpStream, enough to speak to the fake API server.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Client {
    pub port: u16,
    pub token: Option<String>,
}

fn write_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if let Some(t) = token {
        req += &format!("Authorization: Bearer {t}\r\n");
    }
    if !body.is_empty() || method != "GET" {
        req += &format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    req += "\r\n";
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// Reads status line and headers.
fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    })
}

/// Reads one chunk; None at the terminating chunk.
fn read_chunk(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut size = String::new();
    if r.read_line(&mut size)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "eof in chunked body",
        ));
    }
    let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
    let mut buf = vec![0; n];
    r.read_exact(&mut buf)?;
    let mut crlf = [0u8; 2];
    r.read_exact(&mut crlf)?;
    Ok(if n == 0 { None } else { Some(buf) })
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client { port, token: None }
    }

    pub fn with_token(port: u16, token: &str) -> Client {
        Client {
            port,
            token: Some(token.to_string()),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let mut s = self.connect();
        write_request(
            &mut s,
            method,
            path,
            self.token.as_deref(),
            content_type,
            body,
        );
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r)?;
        let mut body = Vec::new();
        if is_chunked(&headers) {
            while let Some(c) = read_chunk(&mut r)? {
                body.extend(c);
            }
        } else {
            r.read_to_end(&mut body)?;
        }
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub fn request(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Resp {
        self.try_request(method, path, content_type, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, "", b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.request("PUT", path, "application/json", body.to_string().as_bytes())
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "PATCH",
            path,
            "application/merge-patch+json",
            body.to_string().as_bytes(),
        )
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, "", b"")
    }

    /// Opens a watch; returns the status and a reader of events.
    pub fn watch(&self, path: &str) -> Watch {
        let mut s = self.connect();
        write_request(&mut s, "GET", path, self.token.as_deref(), "", b"");
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r).expect("watch head");
        Watch {
            status,
            chunked: is_chunked(&headers),
            reader: r,
            pending: Vec::new(),
            ended: false,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

pub struct Watch {
    pub status: u16,
    chunked: bool,
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
    ended: bool,
}

impl Watch {
    /// The next event, or None when the stream ended (or nothing came within `timeout`).
    pub fn next_within(&mut self, timeout: Duration) -> Option<Value> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(&line).expect("event JSON"));
            }
            if self.ended {
                return None;
            }
            if self.chunked {
                match read_chunk(&mut self.reader) {
                    Ok(Some(c)) => self.pending.extend(c),
                    Ok(None) => self.ended = true,
                    Err(e) if is_timeout(&e) => return None,
                    Err(_) => self.ended = true,
                }
            } else {
                let mut buf = [0u8; 4096];
                match self.reader.read(&mut buf) {
                    Ok(0) => self.ended = true,
                    Ok(n) => self.pending.extend(&buf[..n]),
                    Err(e) if is_timeout(&e) => return None,
                    Err(_) => self.ended = true,
                }
            }
        }
    }

    pub fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(5))
    }

    /// The next event that is not a BOOKMARK.
    pub fn next_non_bookmark(&mut self) -> Option<Value> {
        loop {
            let e = self.next()?;
            if e["type"] != "BOOKMARK" {
                return Some(e);
            }
        }
    }

    /// Whether the stream has ended (reads until the end or `timeout`).
    pub fn ended_within(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.ended && !self.pending.contains(&b'\n') {
                return true;
            }
            if self.next_within(Duration::from_millis(200)).is_none() && self.ended {
                return true;
            }
        }
        self.ended
    }
}
