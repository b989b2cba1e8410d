//! The `wait-postgres` probe: an open port is not a ready database. PostgreSQL accepts TCP
//! connections while it starts up, recovers or shuts down, and answers the startup message with
//! SQLSTATE 57P03 then.
//!
//! Without `--password-file` the answer to the startup message is judged as libpq's `PQping`
//! (and so `pg_isready`) judges it: an authentication request, or an error with any SQLSTATE
//! other than 57P03, means the server accepts sessions (a wrong password or a missing database
//! is the client's problem, not the server's). 57P03 and 53300 ("too many clients", which
//! `PQping` counts as up; a pod that cannot get a session is not ready for its client) are not
//! ready, with the server's message in the state line.
//!
//! With `--password-file` kwait logs in (SCRAM-SHA-256, MD5, or a clear-text password over TLS
//! only) and runs `SELECT 1`: ready means "this user can use this database now". A wrong
//! password, a missing database and a server not accepting sessions are pending states that
//! name what is missing.
//!
//! Connections race over every resolved address as `wait-tcp`'s do
//! ([`super::tcp::connect_racing`]); the whole exchange is bounded by the attempt timeout, and
//! every message read by [`wire::MAX_MESSAGE`]. Server text is escaped before it is shown.

pub mod scram;
pub mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use self::scram::{Scram, ScramError, md5_password};
use self::wire::{Auth, ServerError, WireError};
use super::tcp::{ATTEMPT_DELAY, connect_observation, connect_racing};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::resolve::resolve;
use crate::net::text::{chain, printable};
use crate::net::tls::{Hints, Roots, client_config, handshake_failed, handshake_timed_out};
use crate::plan::{PostgresTarget, TlsChoice};

/// How much of a server's message is shown in a state line.
const SHOWN: usize = 200;

/// The probe could not be set up (bad `--ca-cert`, ...): exit code 2.
pub use crate::net::tls::SetupError;

/// Why one exchange ended without a ready answer.
#[derive(Debug, thiserror::Error)]
enum PgError {
    /// Reading or framing failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(#[source] io::Error),
    /// The server answered the SSLRequest with `N`.
    #[error("the server does not offer TLS")]
    NoTls,
    /// The server answered the SSLRequest with something else than `S` or `N`.
    #[error("the server answered the TLS request with byte 0x{0:02x}")]
    SslAnswer(u8),
    /// An ErrorResponse.
    #[error("the server refused: {}", .0.code)]
    Server(ServerError),
    /// The SCRAM exchange failed on our side.
    #[error(transparent)]
    Scram(#[from] ScramError),
    /// An authentication method kwait does not speak.
    #[error("unsupported authentication")]
    Unsupported(Auth),
    /// A clear-text password asked for on a connection without TLS.
    #[error("a clear-text password asked for without TLS")]
    CleartextWithoutTls,
    /// The server said "logged in" before proving it knows the password (SCRAM's final
    /// message was skipped).
    #[error("the server skipped the end of the SCRAM exchange")]
    ScramSkipped,
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How far an exchange got, for the timeout's cause.
const STAGES: [&str; 5] = [
    "the answer to the TLS request",
    "the TLS handshake",
    "the answer to the startup message",
    "the end of the login",
    "the answer to SELECT 1",
];

/// What a successful exchange saw.
enum Reached {
    /// Without a password: the server asked for authentication (or needed none).
    Accepting(Auth),
    /// Without a password: the server refused the login with this error, which (as for
    /// `PQping`) still means it accepts sessions.
    Refused(ServerError),
    /// With a password: logged in and `SELECT 1` answered.
    Queried,
}

/// Waits for PostgreSQL to accept sessions (or, with a password, to answer `SELECT 1`).
pub struct PostgresProbe {
    target: PostgresTarget,
    tls: Option<(tokio_rustls::TlsConnector, Roots)>,
}

impl std::fmt::Debug for PostgresProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresProbe")
            .field("addr", &self.target.addr)
            .finish_non_exhaustive()
    }
}

/// What `target` waits for: `PostgreSQL db:5432`, with the login and TLS when they matter.
pub fn describe(target: &PostgresTarget) -> String {
    let mut parts = Vec::new();
    if target.password.is_some() {
        parts.push(format!(
            "user {}, database {}, SELECT 1",
            printable(&target.user, 80),
            printable(&target.database, 80)
        ));
    }
    parts.extend(target.tls.note().map(String::from));
    if parts.is_empty() {
        format!("PostgreSQL {}", target.addr)
    } else {
        format!("PostgreSQL {} ({})", target.addr, parts.join(", "))
    }
}

impl PostgresProbe {
    /// The probe, with its TLS client when `--tls` is given (reads `--ca-cert`).
    pub fn new(target: &PostgresTarget) -> Result<PostgresProbe, SetupError> {
        let tls = match &target.tls {
            TlsChoice::Off => None,
            choice => Some(tls_connector(choice)?),
        };
        Ok(PostgresProbe {
            target: target.clone(),
            tls,
        })
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let shown = self.target.addr.to_string();
        let resolved = tokio::time::timeout_at(
            deadline,
            resolve(&self.target.addr.host, self.target.addr.port),
        )
        .await;
        let addrs = match resolved {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Check::Pending(e.observation()),
            Err(_) => return self.timed_out(attempt_timeout, "the name did not resolve in time"),
        };
        let named = |addr: &SocketAddr| {
            if addrs.len() > 1 || addr.ip().to_string() != self.target.addr.host {
                format!("{shown} ({addr})")
            } else {
                shown.clone()
            }
        };
        let (tcp, addr) = match connect_racing(&addrs, ATTEMPT_DELAY, deadline).await {
            Ok(c) => c,
            Err(attempts) => {
                return match attempts.most_informative() {
                    Some((addr, e)) if attempts.pending.is_empty() => {
                        Check::Pending(connect_observation(e, &named(addr)))
                    }
                    None if attempts.pending.is_empty() => {
                        Check::Pending(Observation::new(Class::Dns, "DNS: name not found"))
                    }
                    _ => self.timed_out(attempt_timeout, "no connection accepted or refused"),
                };
            }
        };
        let _ = tcp.set_nodelay(true);
        let stage = AtomicUsize::new(0);
        match tokio::time::timeout_at(deadline, self.session(tcp, &stage)).await {
            Ok(Ok(reached)) => self.ready(reached),
            Ok(Err(e)) => Check::Pending(self.observation(e, &named(&addr))),
            // The one stage every TLS client has: worded as every probe words it.
            Err(_) if stage.load(Ordering::Relaxed) == 1 => Check::Pending(handshake_timed_out(
                &named(&addr),
                attempt_timeout,
                TLS_HINTS,
            )),
            Err(_) => {
                let waited = STAGES
                    .get(stage.load(Ordering::Relaxed))
                    .copied()
                    .unwrap_or("an answer");
                self.timed_out(
                    attempt_timeout,
                    &format!("connected to {}, but {waited} did not come", named(&addr)),
                )
            }
        }
    }

    /// The SSLRequest and TLS handshake when asked for, then the exchange.
    async fn session(
        &self,
        mut tcp: tokio::net::TcpStream,
        stage: &AtomicUsize,
    ) -> Result<Reached, PgError> {
        let Some((connector, _)) = &self.tls else {
            stage.store(2, Ordering::Relaxed);
            return self.exchange(&mut tcp, stage).await;
        };
        tcp.write_all(&wire::ssl_request())
            .await
            .map_err(WireError::from)?;
        // One byte, read from the socket itself: nothing the server sends before the
        // handshake may be taken as coming from inside TLS (CVE-2021-23222).
        let answer = tcp.read_u8().await.map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => WireError::Closed,
            _ => WireError::Io(e),
        })?;
        match answer {
            b'S' => {}
            b'N' => return Err(PgError::NoTls),
            // An old server answers with an unframed error ('E'); anything else is not
            // PostgreSQL.
            other => return Err(PgError::SslAnswer(other)),
        }
        stage.store(1, Ordering::Relaxed);
        let name = ServerName::try_from(self.target.addr.host.clone())
            .map_err(|e| PgError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let mut tls = connector.connect(name, tcp).await.map_err(PgError::Tls)?;
        stage.store(2, Ordering::Relaxed);
        self.exchange(&mut tls, stage).await
    }

    /// The startup message and what follows it, over plain TCP or TLS (one copy of the code
    /// for both: a trait object, not a generic).
    async fn exchange(&self, s: &mut dyn Stream, stage: &AtomicUsize) -> Result<Reached, PgError> {
        let t = &self.target;
        send(s, &wire::startup(&t.user, &t.database)).await?;
        let Some(password) = &t.password else {
            // As PQping: the first telling answer decides.
            loop {
                let m = wire::read_message(s).await?;
                match m.tag {
                    b'R' => {
                        let auth = wire::parse_auth(&m.body)?;
                        let _ = send(s, &wire::terminate()).await;
                        return Ok(Reached::Accepting(auth));
                    }
                    b'E' => {
                        let e = wire::parse_error(&m.body);
                        let refusing = matches!(e.code.as_str(), "57P03" | "53300");
                        if refusing || !e.has_sqlstate() {
                            return Err(PgError::Server(e));
                        }
                        return Ok(Reached::Refused(e));
                    }
                    b'N' | b'v' => {}
                    other => return Err(WireError::Unexpected(other).into()),
                }
            }
        };
        let mut scram: Option<Scram> = None;
        let mut verified = false;
        loop {
            let m = wire::read_message(s).await?;
            match m.tag {
                b'R' => match wire::parse_auth(&m.body)? {
                    Auth::Ok => {
                        if scram.is_some() && !verified {
                            return Err(PgError::ScramSkipped);
                        }
                        break;
                    }
                    Auth::Cleartext if self.tls.is_some() => {
                        send(s, &wire::password(password.bytes())).await?;
                    }
                    Auth::Cleartext => return Err(PgError::CleartextWithoutTls),
                    Auth::Md5(salt) => {
                        let hashed = md5_password(t.user.as_bytes(), password.bytes(), salt);
                        send(s, &wire::password(&hashed)).await?;
                    }
                    Auth::Sasl(mechanisms) if scram.is_none() => {
                        if !mechanisms.iter().any(|m| m == "SCRAM-SHA-256") {
                            return Err(PgError::Unsupported(Auth::Sasl(mechanisms)));
                        }
                        let sc = Scram::new()?;
                        let first = sc.client_first();
                        send(s, &wire::sasl_initial("SCRAM-SHA-256", first.as_bytes())).await?;
                        scram = Some(sc);
                    }
                    Auth::SaslContinue(server_first) => {
                        let sc = scram
                            .as_mut()
                            .ok_or(WireError::Malformed("SASL continuation"))?;
                        let fin = sc.client_final(&server_first, password.bytes())?;
                        send(s, &wire::sasl_response(fin.as_bytes())).await?;
                    }
                    Auth::SaslFinal(server_final) => {
                        let sc = scram.as_ref().ok_or(WireError::Malformed("SASL final"))?;
                        sc.verify_server_final(&server_final)?;
                        verified = true;
                    }
                    other => return Err(PgError::Unsupported(other)),
                },
                b'E' => return Err(PgError::Server(wire::parse_error(&m.body))),
                b'N' | b'v' => {}
                other => return Err(WireError::Unexpected(other).into()),
            }
        }
        stage.store(3, Ordering::Relaxed);
        // Parameter statuses and the key data, until the server is ready for a query (an
        // error here: the database does not exist, or the server is not accepting sessions).
        loop {
            let m = wire::read_message(s).await?;
            match m.tag {
                b'Z' => break,
                b'E' => return Err(PgError::Server(wire::parse_error(&m.body))),
                b'S' | b'K' | b'N' | b'v' => {}
                other => return Err(WireError::Unexpected(other).into()),
            }
        }
        stage.store(4, Ordering::Relaxed);
        send(s, &wire::query("SELECT 1")).await?;
        let mut failed = None;
        loop {
            let m = wire::read_message(s).await?;
            match m.tag {
                b'Z' => break,
                b'E' => failed = Some(wire::parse_error(&m.body)),
                b'T' | b'D' | b'C' | b'N' | b'S' | b'I' => {}
                other => return Err(WireError::Unexpected(other).into()),
            }
        }
        let _ = send(s, &wire::terminate()).await;
        match failed {
            Some(e) => Err(PgError::Server(e)),
            None => Ok(Reached::Queried),
        }
    }

    fn ready(&self, reached: Reached) -> Check {
        let t = &self.target;
        Check::Ready(match reached {
            Reached::Accepting(Auth::Ok) => format!(
                "PostgreSQL {} accepts connections (no password asked)",
                t.addr
            ),
            Reached::Accepting(auth) => format!(
                "PostgreSQL {} accepts connections (asks for {})",
                t.addr,
                printable(&auth.name(), SHOWN)
            ),
            Reached::Refused(e) => format!(
                "PostgreSQL {} accepts connections (it refused this login: {})",
                t.addr,
                printable(&e.message, SHOWN)
            ),
            Reached::Queried => format!(
                "PostgreSQL {}: user {} logged in to database {} and SELECT 1 answered",
                t.addr,
                printable(&t.user, 80),
                printable(&t.database, 80)
            ),
        })
    }

    /// What an exchange that ended with `e` means.
    fn observation(&self, e: PgError, shown: &str) -> Observation {
        let t = &self.target;
        let user = printable(&t.user, 80);
        match e {
            PgError::Server(e) => self.server_observation(&e),
            PgError::Wire(WireError::Closed) => Observation::new(Class::Reset, "connection closed")
                .cause(format!("{shown} closed the connection during the startup exchange"))
                .fix("the server may be starting, overloaded or out of connection slots; check its logs"),
            PgError::Wire(WireError::Io(e)) => match e.kind() {
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => Observation::new(Class::Reset, "connection reset")
                    .cause(format!("{shown} reset the connection during the startup exchange ({e})"))
                    .fix("the server may be starting or overloaded; check its logs"),
                _ => Observation::new(Class::Other, "connection failed")
                    .cause(format!("talking to {shown} failed: {}", printable(&chain(&e), 300))),
            },
            PgError::Wire(w) => Observation::new(Class::Other, "not a PostgreSQL answer")
                .cause(format!("{shown}: {}", printable(&w.to_string(), 300)))
                .fix("check that HOST:PORT is PostgreSQL's port (a proxy or another service may answer there)"),
            PgError::Tls(e) => handshake_failed(&e, self.roots(), &t.addr.host, TLS_HINTS),
            PgError::NoTls => Observation::new(Class::Tls, "TLS: not offered by the server")
                .cause(format!("{shown} answered the TLS request with N: its ssl setting is off"))
                .fix("turn on ssl in postgresql.conf (with ssl_cert_file and ssl_key_file), or drop --tls"),
            PgError::SslAnswer(b) => Observation::new(Class::Other, "not a PostgreSQL answer")
                .cause(format!("{shown} answered the TLS request with byte 0x{b:02x}, not S or N"))
                .fix("check that HOST:PORT is PostgreSQL's port"),
            PgError::Scram(ScramError::Signature) => {
                Observation::new(Class::Unauthorized, "the server failed SCRAM's proof")
                    .cause(format!("{shown} accepted the login but could not prove that it holds the password of user {user}: it is not the server it claims to be, or a proxy answers for it"))
                    .fix("check that HOST:PORT is the PostgreSQL server itself; use --tls to authenticate it")
            }
            PgError::Scram(e) => Observation::new(Class::Other, "SCRAM exchange failed")
                .cause(format!("{shown}: {}", printable(&e.to_string(), 300))),
            PgError::ScramSkipped => {
                Observation::new(Class::Unauthorized, "the server failed SCRAM's proof")
                    .cause(format!("{shown} said the login succeeded without proving that it holds the password of user {user}"))
                    .fix("check that HOST:PORT is the PostgreSQL server itself; use --tls to authenticate it")
            }
            PgError::Unsupported(auth) => Observation::new(
                Class::Other,
                format!(
                    "up, but asks for {} authentication, which kwait does not speak",
                    printable(&auth.name(), SHOWN)
                ),
            )
            .cause(format!("{shown} asks user {user} for {}; kwait logs in with SCRAM-SHA-256, MD5, or a clear-text password over TLS", printable(&auth.name(), SHOWN)))
            .fix("use scram-sha-256 for this user in pg_hba.conf, or wait without --password-file (the server being up is then enough)"),
            PgError::CleartextWithoutTls => Observation::new(
                Class::Unauthorized,
                "up, but asks for the password in clear text without TLS",
            )
            .cause(format!("{shown} asks user {user} for a clear-text password (password in pg_hba.conf); kwait sends it only over TLS"))
            .fix("add --tls, or use scram-sha-256 in pg_hba.conf"),
        }
    }

    /// An ErrorResponse, by its SQLSTATE. Server text is escaped and bounded.
    fn server_observation(&self, e: &ServerError) -> Observation {
        let t = &self.target;
        let user = printable(&t.user, 80);
        let db = printable(&t.database, 80);
        let msg = printable(&e.message, SHOWN);
        let detail = e
            .detail
            .as_deref()
            .map(|d| format!(" ({})", printable(d, SHOWN)))
            .unwrap_or_default();
        let code = if e.has_sqlstate() {
            printable(&e.code, 8)
        } else {
            "none".into()
        };
        let said = format!("the server said: {msg}{detail} (SQLSTATE {code})");
        match e.code.as_str() {
            "57P03" => Observation::new(Class::NotReady, format!("not ready: {msg}"))
                .cause(format!("PostgreSQL {} is up but does not accept sessions yet: it is starting up, recovering, a standby without hot_standby, or shutting down; {said}", t.addr))
                .fix("wait: recovery and startup end by themselves; check the server's log if it lasts"),
            "53300" => Observation::new(Class::NotReady, format!("not ready: {msg}"))
                .cause(format!("PostgreSQL {} has no connection slot free; {said}", t.addr))
                .fix("raise max_connections, or find the clients holding connections: SELECT usename, application_name, count(*) FROM pg_stat_activity GROUP BY 1, 2"),
            "28P01" => Observation::new(Class::Unauthorized, format!("authentication failed for user {user}"))
                .cause(said)
                .fix(format!("check that --password-file holds the current password of user {user} (ALTER ROLE {user} PASSWORD ...), and that the user exists")),
            "28000" => Observation::new(Class::Forbidden, format!("login refused for user {user}: {msg}"))
                .cause(said)
                .fix(format!("allow user {user} from this host to database {db} in pg_hba.conf, and check that the role exists and may log in")),
            "3D000" => Observation::new(Class::NotFound, format!("database {db} does not exist"))
                .cause(format!("user {user} logged in, but {said}"))
                .fix(format!("create it (createdb {db}, or CREATE DATABASE), or name another with --database")),
            _ if !e.has_sqlstate() => Observation::new(Class::Other, format!("server error: {msg}"))
                .cause(said),
            _ => Observation::new(Class::NotReady, format!("server error {code}: {msg}"))
                .cause(said),
        }
    }

    fn roots(&self) -> Roots {
        self.tls.as_ref().map_or(Roots::None, |(_, r)| *r)
    }

    /// The attempt's time ran out; `note` says what was (not) seen.
    fn timed_out(&self, attempt_timeout: Duration, note: &str) -> Check {
        Check::Pending(
            Observation::new(Class::Timeout, "attempt timed out")
                .cause(format!(
                    "no answer from PostgreSQL {} within {} ({note})",
                    self.target.addr,
                    crate::duration::format(attempt_timeout)
                ))
                .fix("a firewall or NetworkPolicy may drop the packets, or the server is overloaded; check the address, the port and the server's log"),
        )
    }
}

impl Probe for PostgresProbe {
    fn describe(&self) -> String {
        describe(&self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(self.check_once(attempt_timeout))
    }
}

async fn send(s: &mut dyn Stream, bytes: &[u8]) -> Result<(), WireError> {
    s.write_all(bytes).await?;
    s.flush().await?;
    Ok(())
}

/// wait-postgres's side of a failed handshake (the rest is worded by [`handshake_failed`]).
const TLS_HINTS: Hints = Hints {
    not_tls: "check that HOST:PORT is PostgreSQL's own port: it accepted the TLS request, then did not speak TLS (a proxy in front of it?)",
    settings: Some("ssl, ssl_min_protocol_version and ssl_ciphers in postgresql.conf"),
};

/// The TLS client for `--tls`: `--ca-cert`, the system bundle, or no verification.
fn tls_connector(choice: &TlsChoice) -> Result<(tokio_rustls::TlsConnector, Roots), SetupError> {
    let (mut config, roots) = client_config(choice, "TLS client for wait-postgres")?;
    // PostgreSQL 17's direct TLS negotiation requires this ALPN; with SSLRequest it is optional
    // and harmless.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Password, TcpTarget};
    use tokio::io::AsyncWriteExt;

    use crate::probe::test_runtime as rt;

    fn target(port: u16) -> PostgresTarget {
        PostgresTarget {
            addr: TcpTarget {
                host: "127.0.0.1".into(),
                port,
            },
            user: "app".into(),
            database: "appdb".into(),
            password: None,
            tls: TlsChoice::Off,
            password_file: None,
        }
    }

    fn error_body(code: &str, msg: &str) -> Vec<u8> {
        let mut b = format!("SFATAL\0VFATAL\0C{code}\0M{msg}\0").into_bytes();
        b.push(0);
        b
    }

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// A one-connection server: reads the startup message, answers `reply`, holds the
    /// connection open for a moment.
    async fn answering(reply: Vec<u8>) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut got = vec![0u8; 4096];
            let n = c.read(&mut got).await.unwrap();
            got.truncate(n);
            c.write_all(&reply).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            got
        });
        (port, h)
    }

    async fn check(t: PostgresTarget, timeout: Duration) -> Check {
        PostgresProbe::new(&t).unwrap().check(timeout).await
    }

    #[test]
    fn an_authentication_request_is_ready_and_57p03_is_not() {
        rt().block_on(async {
            let sasl = message(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
            let (port, h) = answering(sasl).await;
            let c = check(target(port), Duration::from_secs(5)).await;
            assert_eq!(
                c,
                Check::Ready(format!(
                    "PostgreSQL 127.0.0.1:{port} accepts connections (asks for SASL (SCRAM-SHA-256))"
                ))
            );
            let got = h.await.unwrap();
            assert_eq!(got, wire::startup("app", "appdb"));

            let starting = message(
                b'E',
                &error_body("57P03", "the database system is starting up\u{1b}[2K"),
            );
            let (port, _h) = answering(starting).await;
            let Check::Pending(o) = check(target(port), Duration::from_secs(5)).await else {
                panic!("57P03 is not ready")
            };
            assert_eq!(o.class, Class::NotReady);
            assert_eq!(
                o.state,
                "not ready: the database system is starting up\\u{1b}[2K"
            );

            let full = message(b'E', &error_body("53300", "sorry, too many clients already"));
            let (port, _h) = answering(full).await;
            let Check::Pending(o) = check(target(port), Duration::from_secs(5)).await else {
                panic!("53300 is not ready")
            };
            assert_eq!(o.state, "not ready: sorry, too many clients already");
        });
    }

    /// A server that accepts the TLS request and then does not speak TLS, or stalls: the words
    /// every probe uses ([`handshake_failed`], [`handshake_timed_out`]) with wait-postgres's
    /// hint. Before, the stall was "attempt timed out" naming the stage.
    #[test]
    fn a_server_that_accepts_the_tls_request_then_fails_the_handshake_is_named() {
        rt().block_on(async {
            let mut t = target(0);
            t.tls = TlsChoice::Insecure;
            let (port, _h) = answering(b"Snot TLS at all".to_vec()).await;
            t.addr.port = port;
            let Check::Pending(o) = check(t.clone(), Duration::from_secs(5)).await else {
                panic!("not TLS is not ready")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Tls, "TLS: handshake failed")
            );
            assert_eq!(o.fix, vec![TLS_HINTS.not_tls.to_string()]);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            t.addr.port = l.local_addr().unwrap().port();
            tokio::spawn(async move {
                let (mut c, _) = l.accept().await.unwrap();
                let mut got = [0u8; 8];
                c.read_exact(&mut got).await.unwrap();
                c.write_all(b"S").await.unwrap();
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
            let Check::Pending(o) = check(t, Duration::from_secs(1)).await else {
                panic!("a stalled handshake is not ready")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (
                    Class::Timeout,
                    "attempt timed out: TLS handshake did not finish"
                )
            );
        });
    }

    #[test]
    fn an_error_without_a_sqlstate_is_no_answer_as_pqping_says() {
        rt().block_on(async {
            let (port, _h) = answering(message(b'E', b"SFATAL\0Mout of memory\0\0")).await;
            let Check::Pending(o) = check(target(port), Duration::from_secs(5)).await else {
                panic!("an error without SQLSTATE is not ready")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Other, "server error: out of memory")
            );
        });
    }

    #[test]
    fn without_a_password_an_auth_error_means_up_as_pqping_says() {
        rt().block_on(async {
            let refused = message(
                b'E',
                &error_body("28P01", "password authentication failed for user \"app\""),
            );
            let (port, _h) = answering(refused).await;
            let c = check(target(port), Duration::from_secs(5)).await;
            let Check::Ready(text) = c else {
                panic!("{c:?}")
            };
            assert!(
                text.contains("accepts connections (it refused this login"),
                "{text}"
            );
        });
    }

    #[test]
    fn with_a_password_a_wrong_one_and_a_missing_database_are_pending_states() {
        rt().block_on(async {
            let mut t = target(0);
            t.password = Some(test_password());
            // MD5: the server asks, then refuses the password.
            let mut reply = message(b'R', b"\0\0\0\x05\x01\x02\x03\x04");
            reply.extend(message(
                b'E',
                &error_body("28P01", "password authentication failed for user \"app\""),
            ));
            let (port, h) = answering(reply).await;
            t.addr.port = port;
            let Check::Pending(o) = check(t.clone(), Duration::from_secs(5)).await else {
                panic!("a wrong password is not ready")
            };
            assert_eq!(o.state, "authentication failed for user app");
            assert!(o.fix[0].contains("--password-file"), "{:?}", o.fix);
            h.await.unwrap();

            let mut reply = message(b'R', b"\0\0\0\0");
            reply.extend(message(
                b'E',
                &error_body("3D000", "database \"appdb\" does not exist"),
            ));
            let (port, _h) = answering(reply).await;
            t.addr.port = port;
            let Check::Pending(o) = check(t.clone(), Duration::from_secs(5)).await else {
                panic!("a missing database is not ready")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::NotFound, "database appdb does not exist")
            );
        });
    }

    #[test]
    fn a_server_that_says_logged_in_without_the_scram_proof_is_refused() {
        rt().block_on(async {
            let mut t = target(0);
            t.password = Some(test_password());
            // SASL offered, then "OK" without SASLContinue/SASLFinal: an impostor.
            let mut reply = message(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
            reply.extend(message(b'R', b"\0\0\0\0"));
            let (port, _h) = answering(reply).await;
            t.addr.port = port;
            let Check::Pending(o) = check(t, Duration::from_secs(5)).await else {
                panic!("logged in without proof")
            };
            assert_eq!(o.state, "the server failed SCRAM's proof");
        });
    }

    #[test]
    fn a_clear_text_password_is_not_sent_without_tls() {
        rt().block_on(async {
            let mut t = target(0);
            t.password = Some(test_password());
            let (port, h) = answering(message(b'R', b"\0\0\0\x03")).await;
            t.addr.port = port;
            let Check::Pending(o) = check(t, Duration::from_secs(5)).await else {
                panic!("sent a clear-text password")
            };
            assert_eq!(o.class, Class::Unauthorized);
            assert!(!h.await.unwrap().windows(6).any(|w| w == b"pg-pw-"));
        });
    }

    #[test]
    fn a_silent_server_is_bounded_by_the_attempt_timeout_and_a_huge_message_refused() {
        rt().block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let _h = tokio::spawn(async move {
                let (c, _) = l.accept().await.unwrap();
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(c);
            });
            let started = tokio::time::Instant::now();
            let Check::Pending(o) = check(target(port), Duration::from_millis(500)).await else {
                panic!("a silent server is not ready")
            };
            assert!(started.elapsed() < Duration::from_secs(5));
            assert_eq!(o.class, Class::Timeout);
            let cause = o.cause.unwrap_or_default();
            assert!(
                cause.contains("but the answer to the startup message did not come"),
                "{cause}"
            );

            // A 1 GiB length: refused at once, nothing allocated for it.
            let (port, _h) = answering(b"R\x40\0\0\0".to_vec()).await;
            let Check::Pending(o) = check(target(port), Duration::from_secs(5)).await else {
                panic!("a huge message is not an answer")
            };
            assert_eq!(o.state, "not a PostgreSQL answer");
        });
    }

    fn test_password() -> Password {
        Password::for_tests(b"pg-pw-123")
    }
}
