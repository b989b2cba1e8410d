//! The `wait-nats` probe: ready when the server sent its `INFO`, accepted our `CONNECT` (with
//! the login given) and answered `PING` with `PONG`: what every NATS client does before its
//! first publish. An open port on 4222 says nothing about whether the server takes the login.
//!
//! The exchange (<https://docs.nats.io/reference/reference-protocols/nats-protocol>): the
//! server speaks first, `INFO {json}`; the client sends `CONNECT {json}` with `verbose:false`
//! (no `+OK` to wait for) and `pedantic:false`, then `PING`; the server answers `PONG`, or
//! `-ERR 'Authorization Violation'` and closes. The server's `-ERR` carries text only (no
//! code), so its words are what tells a failed login from a full server; they are escaped
//! before they are shown. With `--tls`, the TLS handshake starts after the plaintext `INFO`,
//! as NATS 2.9 expects (its `INFO` says `tls_required`); a server that requires TLS while
//! `--tls` is not given is named from that `INFO`, before anything is sent.
//!
//! Every line read is capped ([`LINE_CAP`]), the whole exchange ends at the attempt's
//! deadline, and the password or token is sent only inside `CONNECT` (registered as a secret
//! when it was read, never part of an observation).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tcp::{dial_named, exchange_failed};
use super::{BoxFuture, Check, Class, Observation, Probe, Stream};
use crate::net::text::printable;
use crate::net::tls::{Hints, SetupError, StreamTls};
use crate::plan::NatsTarget;

/// The longest protocol line read (an `INFO` with a cluster's `connect_urls` is a few KiB;
/// `max_control_line` is 4 KiB by default).
pub const LINE_CAP: usize = 64 * 1024;

/// How much of a server's text a state line shows.
const SHOWN: usize = 160;

/// The server's `INFO`, the fields kwait reads.
#[derive(Debug, Default, serde::Deserialize)]
struct Info {
    #[serde(default)]
    version: String,
    #[serde(default)]
    tls_required: bool,
    #[serde(default)]
    tls_available: bool,
}

/// Why an exchange ended without `PONG`.
#[derive(Debug, thiserror::Error)]
enum NatsError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the connection was closed")]
    Closed,
    #[error("a line longer than 64 KiB")]
    TooLong,
    #[error("the first line is not INFO: {0:?}")]
    NotNats(String),
    #[error("INFO is not the JSON object NATS sends: {0}")]
    BadInfo(#[source] serde_json::Error),
    #[error("-ERR {0}")]
    Server(String),
    #[error("the server requires TLS")]
    TlsRequired,
    #[error("the server does not offer TLS")]
    NoTls,
    #[error("the server sent more after INFO, before the TLS handshake")]
    BeforeTls,
    #[error("TLS")]
    Tls(Observation),
    #[error("unexpected line {0:?}")]
    Unexpected(String),
}

/// How far an exchange got, for the timeout's cause.
const STAGES: [&str; 3] = [
    "its INFO did not come",
    "the TLS handshake did not finish",
    "PING was not answered",
];

/// Lines (`\r\n`-ended) read from a stream, each at most [`LINE_CAP`].
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    async fn next(&mut self, s: &mut dyn Stream) -> Result<String, NatsError> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() >= LINE_CAP {
                return Err(NatsError::TooLong);
            }
            let mut chunk = [0u8; 4096];
            let room = (LINE_CAP - self.buf.len()).min(chunk.len());
            match s.read(&mut chunk[..room]).await? {
                0 => return Err(NatsError::Closed),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Waits for NATS to answer `PING` with `PONG` after `CONNECT`.
#[derive(Debug)]
pub struct NatsProbe {
    target: NatsTarget,
    tls: Option<StreamTls>,
}

/// What `target` waits for, e.g. `NATS nats:4222 (TLS, user app)`.
pub fn describe(target: &NatsTarget) -> String {
    let login = match (&target.user, &target.token) {
        (Some(u), _) => Some(format!("user {}", printable(u, 60))),
        (None, Some(_)) => Some("token".to_string()),
        (None, None) => None,
    };
    super::described("NATS", &target.addr, &target.tls, login)
}

/// wait-nats's side of a failed handshake (the rest is worded by the shared TLS words).
const TLS_HINTS: Hints = Hints {
    not_tls: "check that the server has a tls block (its INFO then says tls_required), or drop --tls",
    settings: Some(
        "the tls block of nats-server.conf; kwait sends no client certificate, so verify must be false",
    ),
};

impl NatsProbe {
    /// The probe; with `--tls`, its TLS client (trust roots read now).
    pub fn new(target: &NatsTarget) -> Result<NatsProbe, SetupError> {
        Ok(NatsProbe {
            target: target.clone(),
            tls: StreamTls::when_on(&target.tls, &target.addr.host, "wait-nats", TLS_HINTS)?,
        })
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let (tcp, shown) = match dial_named(&self.target.addr, attempt_timeout, deadline).await {
            Ok(s) => s,
            Err(o) => return Check::Pending(o),
        };
        let stage = AtomicUsize::new(0);
        let session = self.session(tcp, &shown, attempt_timeout, deadline, &stage);
        match tokio::time::timeout_at(deadline, session).await {
            Ok(Ok(info)) => {
                let version = if info.version.is_empty() {
                    String::new()
                } else {
                    format!(" (nats-server {})", printable(&info.version, 40))
                };
                Check::Ready(format!("NATS {shown}{version} answered PONG"))
            }
            Ok(Err(e)) => Check::Pending(self.observation(e, &shown)),
            Err(_) => {
                let what = STAGES
                    .get(stage.load(Ordering::Relaxed))
                    .copied()
                    .unwrap_or("it did not answer");
                Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!(
                            "{shown} accepted the connection, but {what} within {}",
                            crate::duration::format(attempt_timeout)
                        ))
                        .fix("the server may be overloaded or not NATS (its client port is 4222; 8222 is monitoring, 6222 routes); check its logs"),
                )
            }
        }
    }

    /// `INFO`, the TLS handshake where asked for, `CONNECT` and `PING`; the server's `INFO`
    /// when it answered `PONG`.
    async fn session(
        &self,
        mut tcp: tokio::net::TcpStream,
        shown: &str,
        attempt_timeout: Duration,
        deadline: tokio::time::Instant,
        stage: &AtomicUsize,
    ) -> Result<Info, NatsError> {
        let mut lines = Lines::default();
        let first = lines.next(&mut tcp).await?;
        let info = match first.split_once(' ') {
            Some((verb, json)) if verb.eq_ignore_ascii_case("INFO") => {
                serde_json::from_str::<Info>(json.trim()).map_err(NatsError::BadInfo)?
            }
            _ if first.starts_with("-ERR") => {
                return Err(NatsError::Server(first[4..].trim().to_string()));
            }
            _ => return Err(NatsError::NotNats(first.chars().take(40).collect())),
        };
        let Some(tls) = &self.tls else {
            if info.tls_required {
                return Err(NatsError::TlsRequired);
            }
            self.login(&mut tcp, lines, false).await?;
            return Ok(info);
        };
        if !info.tls_required && !info.tls_available {
            return Err(NatsError::NoTls);
        }
        // Nothing the server sent in clear may be taken as coming from inside TLS.
        if !lines.buf.is_empty() {
            return Err(NatsError::BeforeTls);
        }
        stage.store(1, Ordering::Relaxed);
        let mut s = tls
            .connect(tcp, deadline, shown, attempt_timeout)
            .await
            .map_err(NatsError::Tls)?;
        stage.store(2, Ordering::Relaxed);
        self.login(&mut s, Lines::default(), true).await?;
        Ok(info)
    }

    /// `CONNECT` and `PING`, then the lines until `PONG` (answering a `PING` of the server's).
    async fn login(
        &self,
        s: &mut dyn Stream,
        mut lines: Lines,
        tls: bool,
    ) -> Result<(), NatsError> {
        let mut connect = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "tls_required": tls,
            "name": "kwait",
            "lang": "rust",
            "version": crate::version::VERSION,
            "protocol": 1,
            "echo": true,
        });
        let t = &self.target;
        if let (Some(user), Some(pw)) = (&t.user, &t.password) {
            connect["user"] = user.as_str().into();
            connect["pass"] = String::from_utf8_lossy(pw.bytes()).into();
        }
        if let Some(token) = &t.token {
            connect["auth_token"] = String::from_utf8_lossy(token.bytes()).into();
        }
        let out = format!("CONNECT {connect}\r\nPING\r\n");
        s.write_all(out.as_bytes()).await?;
        loop {
            let line = lines.next(s).await?;
            let verb = line
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match verb.as_str() {
                "PONG" => return Ok(()),
                "PING" => s.write_all(b"PONG\r\n").await?,
                // An asynchronous INFO (cluster changes), or +OK from a server that ignored
                // verbose:false.
                "INFO" | "+OK" | "" => {}
                "-ERR" => return Err(NatsError::Server(line[4..].trim().to_string())),
                _ => return Err(NatsError::Unexpected(line.chars().take(40).collect())),
            }
        }
    }

    /// The login's words: `user app`, `the token`, or none.
    fn login_named(&self) -> Option<String> {
        match (&self.target.user, &self.target.token) {
            (Some(u), _) => Some(format!("user {}", printable(u, 60))),
            (None, Some(_)) => Some("the token".into()),
            (None, None) => None,
        }
    }

    fn observation(&self, e: NatsError, shown: &str) -> Observation {
        match e {
            NatsError::Server(text) => self.server_error(&text, shown),
            NatsError::Tls(o) => o,
            NatsError::TlsRequired => Observation::new(Class::Tls, "up, TLS required")
                .cause(format!("{shown} requires TLS (its INFO says tls_required) and --tls is not given"))
                .fix("add --tls, with --ca-cert FILE for the CA that signed the server's certificate"),
            NatsError::NoTls => Observation::new(Class::Tls, "TLS: not offered by the server")
                .cause(format!("{shown} offers no TLS (its INFO says neither tls_required nor tls_available)"))
                .fix("give the server a tls block in its configuration, or drop --tls"),
            NatsError::BeforeTls => Observation::new(Class::Other, "answered, but not as NATS")
                .cause(format!("{shown} sent more than its INFO before the TLS handshake"))
                .fix("check that HOST:PORT is the NATS server itself (not a proxy)"),
            NatsError::Closed => {
                let mut o = Observation::new(Class::Reset, "connection closed without an answer")
                    .cause(format!("{shown} closed the connection before it answered PING"))
                    .fix("the server may be starting, shutting down or at max_connections; check its logs");
                if self.tls.is_none() {
                    o = o.fix("if the server expects TLS, add --tls");
                }
                o
            }
            NatsError::Io(e) => exchange_failed(&e, shown),
            e @ (NatsError::TooLong
            | NatsError::NotNats(_)
            | NatsError::BadInfo(_)
            | NatsError::Unexpected(_)) => Observation::new(Class::Other, "answered, but not as NATS")
                .cause(format!("{shown}: {}", printable(&e.to_string(), SHOWN)))
                .fix("check the host and port: NATS clients connect to 4222 (8222 is monitoring, 6222 cluster routes)"),
        }
    }

    /// A `-ERR` line: NATS sends its error as text only, `'Authorization Violation'`; the
    /// words are the protocol's signal (as every NATS client reads them), matched without case.
    fn server_error(&self, text: &str, shown: &str) -> Observation {
        let words = printable(text.trim_matches('\''), SHOWN);
        let lower = text.to_ascii_lowercase();
        let said = format!("-ERR {}", printable(text, SHOWN));
        if lower.contains("authorization violation") {
            return match self.login_named() {
                Some(login) => Observation::new(Class::Unauthorized, "up, login failed")
                    .cause(format!("{shown} is up and refused the login with {login}: {said}"))
                    .fix(if self.target.token.is_some() {
                        "check the token in --token-file: it must be the server's authorization token"
                    } else {
                        "check --user and the password in --password-file against the server's authorization users (the Secret the chart mounts must hold the same password)"
                    }),
                None => Observation::new(Class::Unauthorized, "up, login needed")
                    .cause(format!("{shown} is up and requires a login: {said}"))
                    .fix("pass --user NAME --password-file FILE (or --token-file FILE) with the credentials; mount them from the Secret that holds them"),
            };
        }
        if lower.contains("tls required") {
            return Observation::new(Class::Tls, "up, TLS required")
                .cause(format!("{shown}: {said}"))
                .fix("add --tls, with --ca-cert FILE for the CA that signed the server's certificate");
        }
        if lower.contains("expired") || lower.contains("revoked") {
            return Observation::new(Class::Unauthorized, format!("up, login refused: {words}"))
                .cause(format!("{shown}: {said}"))
                .fix("renew the credentials the server expects");
        }
        if lower.contains("authentication timeout") {
            return Observation::new(Class::Timeout, "up, login timed out")
                .cause(format!("{shown} gave up waiting for CONNECT: {said}"))
                .fix("the network or this pod is slow, or the server's authorization timeout is short");
        }
        if lower.contains("maximum connections") {
            return Observation::new(Class::NotReady, format!("not ready: {words}"))
                .cause(format!("{shown} is at its connection limit: {said}"))
                .fix("raise max_connections (or the account's limit), or find what holds the connections");
        }
        Observation::new(Class::NotReady, format!("answered an error: {words}"))
            .cause(format!("{shown} answered CONNECT or PING with {said}"))
            .fix("see the server's log; the error is nats-server's own words")
    }
}

impl Probe for NatsProbe {
    fn describe(&self) -> String {
        describe(&self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(self.check_once(attempt_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Password, TcpTarget, TlsChoice};
    use crate::probe::test_runtime as rt;

    fn target(port: u16) -> NatsTarget {
        NatsTarget {
            addr: TcpTarget {
                host: "127.0.0.1".into(),
                port,
            },
            user: None,
            password: None,
            token: None,
            tls: TlsChoice::Off,
            files: Vec::new(),
        }
    }

    /// A loopback server that sends `first`, reads the client's lines into `seen`, then
    /// answers with `then`.
    async fn server(
        first: &'static [u8],
        then: &'static [u8],
    ) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = s.write_all(first).await;
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    // Until the client's PING.
                    while !got.ends_with(b"PING\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
                    let _ = s.write_all(then).await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                });
            }
        });
        (port, rx)
    }

    /// One check of `t` that must be pending: its observation.
    async fn pending(t: &NatsTarget, within: Duration) -> Observation {
        match NatsProbe::new(t).unwrap().check(within).await {
            Check::Pending(o) => o,
            c => panic!("{c:?}"),
        }
    }

    const INFO: &[u8] = b"INFO {\"server_id\":\"NABC\",\"version\":\"2.9.10\",\"proto\":1,\"max_payload\":1048576,\"auth_required\":true}\r\n";

    #[test]
    fn connect_carries_the_login_and_pong_is_ready() {
        rt().block_on(async {
            let (port, mut seen) = server(INFO, b"PING\r\nPONG\r\n").await;
            let mut t = target(port);
            t.user = Some("app".into());
            t.password = Some(Password::for_tests(b"p\"w\\1"));
            let mut p = NatsProbe::new(&t).unwrap();
            let c = p.check(Duration::from_secs(3)).await;
            assert!(
                matches!(&c, Check::Ready(s) if s.ends_with("(nats-server 2.9.10) answered PONG")),
                "{c:?}"
            );
            let sent = seen.recv().await.unwrap();
            let connect = sent.strip_prefix("CONNECT ").unwrap();
            let (json, rest) = connect.split_once("\r\n").unwrap();
            assert_eq!(rest, "PING\r\n");
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(v["user"], "app");
            assert_eq!(v["pass"], "p\"w\\1");
            assert_eq!(v["verbose"], false);
            assert_eq!(v["pedantic"], false);
            assert_eq!(v["echo"], true);
            assert_eq!(v["tls_required"], false);
        });
    }

    #[test]
    fn authorization_violation_is_a_failed_login_or_a_missing_one() {
        rt().block_on(async {
            let (port, _seen) = server(INFO, b"-ERR 'Authorization Violation'\r\n").await;
            let mut t = target(port);
            let o = pending(&t, Duration::from_secs(3)).await;
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Unauthorized, "up, login needed")
            );
            t.token = Some(Password::for_tests(b"tok"));
            let o = pending(&t, Duration::from_secs(3)).await;
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Unauthorized, "up, login failed")
            );
            assert!(
                o.cause
                    .unwrap()
                    .contains("with the token: -ERR 'Authorization Violation'")
            );
        });
    }

    #[test]
    fn tls_required_without_tls_is_named_before_anything_is_sent() {
        rt().block_on(async {
            let (port, mut seen) = server(
                b"INFO {\"version\":\"2.9.10\",\"tls_required\":true}\r\n",
                b"",
            )
            .await;
            let o = pending(&target(port), Duration::from_secs(3)).await;
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Tls, "up, TLS required")
            );
            assert!(o.fix[0].contains("--tls"));
            assert_eq!(seen.recv().await.unwrap(), "");
        });
    }

    #[test]
    fn what_is_not_nats_is_named_escaped_and_capped() {
        rt().block_on(async {
            let (port, _s) = server(b"SSH-2.0-OpenSSH_9.2\r\n", b"").await;
            let o = pending(&target(port), Duration::from_secs(3)).await;
            assert_eq!(o.state, "answered, but not as NATS");
            let (port, _s) = server(INFO, b"-ERR '\x1b[2J\xe2\x80\xaekwait: ready'\r\n").await;
            let o = pending(&target(port), Duration::from_secs(3)).await;
            assert!(
                !o.state.contains('\x1b') && !o.state.contains('\u{202e}'),
                "{}",
                o.state
            );
            // A line without end is refused at the cap, not buffered for ever.
            static ENDLESS: std::sync::LazyLock<Vec<u8>> =
                std::sync::LazyLock::new(|| vec![b'I'; LINE_CAP + 10]);
            let (port, _s) = server(ENDLESS.as_slice(), b"").await;
            let o = pending(&target(port), Duration::from_secs(3)).await;
            assert!(o.cause.unwrap().contains("longer than 64 KiB"));
        });
    }

    #[test]
    fn a_silent_server_times_out_naming_the_info_it_did_not_send() {
        rt().block_on(async {
            let (port, _s) = server(b"", b"").await;
            let o = pending(&target(port), Duration::from_millis(300)).await;
            assert_eq!(o.class, Class::Timeout);
            assert!(o.cause.unwrap().contains("its INFO did not come"));
        });
    }
}
