//! The `wait-mysql` probe: ready when MySQL or MariaDB logs the user in, switches to the
//! database (`COM_INIT_DB`, with `--database`) and answers `COM_PING`.
//!
//! One check is one connection (wait-tcp's, to every resolved address at once): the server's
//! greeting, an SSLRequest and TLS with `--tls`, the login (mysql_native_password; the fast path
//! of caching_sha2_password, and its full authentication over TLS, where the password is sent
//! in clear inside TLS, as the protocol asks; auth switch requests to either), then the commands
//! and a `COM_QUIT`. Without TLS a server that wants caching_sha2_password's full
//! authentication asks for an RSA key exchange, which kwait does not do: it says to use --tls.
//! Every packet is capped ([`wire::MAX_PACKET`]), the whole exchange bounded by the attempt's
//! deadline; server text is escaped; the password, registered as a secret when it was read, is
//! never part of an observation.
//!
//! A server that is up but not ready says so with an error code: 1045 (the login was refused)
//! and 1049 (the database does not exist yet) are named, as are the others a starting or
//! crowded server sends; all are pending until the deadline.

pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use self::wire::{ServerError, WireError};
use super::tcp::dial;
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::text::printable;
use crate::net::tls::{Hints, Roots, client_config, handshake_failed, handshake_timed_out};
use crate::plan::{MysqlTarget, TlsChoice};

/// How much of a server's message a line shows.
const SHOWN: usize = 200;

/// The most authentication round trips accepted (a switch, a fast-auth result, a full
/// authentication): a server that asks for more is not following the protocol.
const AUTH_ROUNDS: usize = 6;

/// The probe could not be set up (bad `--ca-cert`, ...): exit code 2.
pub use crate::net::tls::SetupError;

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How far an exchange got, for the timeout's cause.
const STAGES: [&str; 5] = [
    "the server's greeting",
    "the TLS handshake",
    "the end of the login",
    "the answer to COM_INIT_DB",
    "the answer to COM_PING",
];

/// Why one exchange ended without a ready answer.
#[derive(Debug, thiserror::Error)]
enum MyError {
    /// Reading or framing failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The server sent an ERR packet (at `stage`).
    #[error("error {}", .0.code)]
    Server(ServerError, usize),
    /// `--tls` given, the server does not offer it.
    #[error("the server does not offer TLS")]
    NoTls,
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(#[source] std::io::Error),
    /// caching_sha2_password's full authentication without TLS (it wants an RSA key exchange).
    #[error("full authentication needs TLS")]
    RsaNeeded,
    /// A clear-text password asked for without TLS.
    #[error("a clear-text password asked for without TLS")]
    CleartextWithoutTls,
    /// An authentication plugin kwait does not speak.
    #[error("unsupported authentication plugin")]
    Plugin(String),
    /// A packet where another was expected.
    #[error("unexpected packet 0x{0:02x}")]
    Unexpected(u8),
}

/// Waits for MySQL or MariaDB.
pub struct MysqlProbe {
    target: MysqlTarget,
    tls: Option<(tokio_rustls::TlsConnector, Roots)>,
}

impl std::fmt::Debug for MysqlProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlProbe")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// What `target` waits for, e.g. `MySQL db:3306 (user app, database shop, TLS)`.
pub fn describe(target: &MysqlTarget) -> String {
    let mut parts = vec![format!("user {}", printable(&target.user, 80))];
    if let Some(db) = &target.database {
        parts.push(format!("database {}", printable(db, 80)));
    }
    parts.extend(target.tls.note().map(String::from));
    format!("MySQL {} ({})", target.addr, parts.join(", "))
}

impl MysqlProbe {
    /// The probe, with its TLS client when `--tls` is given (reads `--ca-cert`).
    pub fn new(target: &MysqlTarget) -> Result<MysqlProbe, SetupError> {
        let tls = match &target.tls {
            TlsChoice::Off => None,
            choice => {
                let (config, roots) = client_config(choice, "TLS client for wait-mysql")?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), roots))
            }
        };
        Ok(MysqlProbe {
            target: target.clone(),
            tls,
        })
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let (tcp, addr) = match dial(&self.target.addr, attempt_timeout, deadline).await {
            Ok(s) => s,
            Err(o) => return Check::Pending(o),
        };
        let _ = tcp.set_nodelay(true);
        let shown = if addr.ip().to_string() == self.target.addr.host {
            self.target.addr.to_string()
        } else {
            format!("{} ({addr})", self.target.addr)
        };
        let stage = AtomicUsize::new(0);
        match tokio::time::timeout_at(deadline, self.session(tcp, &stage)).await {
            Ok(Ok(version)) => Check::Ready(self.ready_text(&shown, &version)),
            Ok(Err(MyError::Tls(e))) => {
                let roots = self.tls.as_ref().map_or(Roots::System, |t| t.1);
                Check::Pending(handshake_failed(
                    &e,
                    roots,
                    &self.target.addr.host,
                    TLS_HINTS,
                ))
            }
            Ok(Err(e)) => Check::Pending(self.observation(e, &shown)),
            Err(_) if stage.load(Ordering::Relaxed) == 1 => {
                Check::Pending(handshake_timed_out(&shown, attempt_timeout, TLS_HINTS))
            }
            Err(_) => {
                let waited = STAGES
                    .get(stage.load(Ordering::Relaxed))
                    .copied()
                    .unwrap_or("an answer");
                Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!(
                            "connected to {shown}, but {waited} did not come within {}",
                            crate::duration::format(attempt_timeout)
                        ))
                        .fix("the server may be overloaded, starting, or not MySQL; check its log (and --tls if it expects TLS)"),
                )
            }
        }
    }

    fn ready_text(&self, shown: &str, version: &str) -> String {
        let t = &self.target;
        // MariaDB puts "5.5.5-" before its version for old clients' sake.
        let version = printable(version.strip_prefix("5.5.5-").unwrap_or(version), 80);
        match &t.database {
            Some(db) => format!(
                "MySQL {shown} ({version}) logged {} in to database {} and answered COM_PING",
                printable(&t.user, 80),
                printable(db, 80)
            ),
            None => format!(
                "MySQL {shown} ({version}) logged {} in and answered COM_PING",
                printable(&t.user, 80)
            ),
        }
    }

    /// The greeting, TLS when asked for, the login and the commands: the server's version.
    async fn session(
        &self,
        mut tcp: tokio::net::TcpStream,
        stage: &AtomicUsize,
    ) -> Result<String, MyError> {
        let first = wire::read_packet(&mut tcp).await?;
        if first.body.first() == Some(&0xff) {
            return Err(MyError::Server(wire::parse_error(&first.body)?, 0));
        }
        let greeting = wire::parse_greeting(&first.body)?;
        let caps = wire::client_caps(greeting.caps, self.tls.is_some());
        let mut seq = first.seq.wrapping_add(1);
        let Some((connector, _)) = &self.tls else {
            stage.store(2, Ordering::Relaxed);
            self.login(&mut tcp, &greeting, caps, seq, false, stage)
                .await?;
            return Ok(greeting.version);
        };
        if greeting.caps & wire::CLIENT_SSL == 0 {
            return Err(MyError::NoTls);
        }
        wire::write_packet(&mut tcp, seq, &wire::ssl_request(caps)).await?;
        seq = seq.wrapping_add(1);
        stage.store(1, Ordering::Relaxed);
        let name = ServerName::try_from(self.target.addr.host.clone())
            .map_err(|e| MyError::Tls(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let mut tls = connector.connect(name, tcp).await.map_err(MyError::Tls)?;
        stage.store(2, Ordering::Relaxed);
        self.login(&mut tls, &greeting, caps, seq, true, stage)
            .await?;
        Ok(greeting.version)
    }

    /// The handshake response and the authentication exchange, then `COM_INIT_DB` (with
    /// `--database`), `COM_PING` and `COM_QUIT`. One copy for plain TCP and TLS.
    async fn login(
        &self,
        s: &mut dyn Stream,
        greeting: &wire::Greeting,
        caps: u32,
        mut seq: u8,
        tls: bool,
        stage: &AtomicUsize,
    ) -> Result<(), MyError> {
        let t = &self.target;
        let password = t.password.as_ref().map(|p| p.bytes()).unwrap_or_default();
        // The greeting's plugin when kwait speaks it; else mysql_native_password, and the
        // server switches us to what the account needs.
        let mut plugin = match greeting.plugin.as_str() {
            "caching_sha2_password" => "caching_sha2_password",
            _ => "mysql_native_password",
        };
        let auth = scramble(plugin, password, &greeting.scramble);
        let response = wire::handshake_response(caps, &t.user, &auth, plugin);
        wire::write_packet(s, seq, &response).await?;
        let mut logged_in = false;
        for _ in 0..AUTH_ROUNDS {
            let p = wire::read_packet(s).await?;
            seq = p.seq.wrapping_add(1);
            match p.body.first().copied() {
                Some(0x00) => {
                    logged_in = true;
                    break;
                }
                Some(0xff) => return Err(MyError::Server(wire::parse_error(&p.body)?, 2)),
                // An auth switch request: the plugin's name and its nonce.
                Some(0xfe) => {
                    let rest = &p.body[1..];
                    let at = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    let name = String::from_utf8_lossy(&rest[..at]).into_owned();
                    let data = wire::nonce(rest.get(at + 1..).unwrap_or_default());
                    let answer = match name.as_str() {
                        "mysql_native_password" => {
                            plugin = "mysql_native_password";
                            scramble(plugin, password, data)
                        }
                        "caching_sha2_password" => {
                            plugin = "caching_sha2_password";
                            scramble(plugin, password, data)
                        }
                        "mysql_clear_password" if tls => {
                            plugin = "mysql_clear_password";
                            let mut clear = password.to_vec();
                            clear.push(0);
                            clear
                        }
                        "mysql_clear_password" => return Err(MyError::CleartextWithoutTls),
                        _ => return Err(MyError::Plugin(name)),
                    };
                    wire::write_packet(s, seq, &answer).await?;
                }
                // caching_sha2_password's verdict on the fast path.
                Some(0x01) if plugin == "caching_sha2_password" => match p.body.get(1) {
                    Some(0x03) => {}
                    Some(0x04) if tls => {
                        let mut clear = password.to_vec();
                        clear.push(0);
                        wire::write_packet(s, seq, &clear).await?;
                    }
                    Some(0x04) => return Err(MyError::RsaNeeded),
                    _ => return Err(WireError::Malformed("caching_sha2_password answer").into()),
                },
                Some(other) => return Err(MyError::Unexpected(other)),
                None => return Err(WireError::Malformed("empty packet").into()),
            }
        }
        if !logged_in {
            return Err(WireError::Malformed("login (too many authentication rounds)").into());
        }
        if let Some(db) = &t.database {
            stage.store(3, Ordering::Relaxed);
            let mut cmd = vec![wire::COM_INIT_DB];
            cmd.extend_from_slice(db.as_bytes());
            command(s, &cmd, 3).await?;
        }
        stage.store(4, Ordering::Relaxed);
        command(s, &[wire::COM_PING], 4).await?;
        let _ = wire::write_packet(s, 0, &[wire::COM_QUIT]).await;
        Ok(())
    }

    /// What an exchange that ended in `e` says.
    fn observation(&self, e: MyError, shown: &str) -> Observation {
        let t = &self.target;
        let user = printable(&t.user, 80);
        let db = t
            .database
            .as_deref()
            .map(|d| printable(d, 80))
            .unwrap_or_default();
        match e {
            MyError::Server(err, stage) => self.server_error(&err, stage, shown, &user, &db),
            MyError::Wire(WireError::Closed) => Observation::new(Class::Reset, "connection closed without an answer")
                .cause(format!("{shown} accepted the connection, then closed it"))
                .fix("the server may be starting or at max_connections; see its error log"),
            MyError::Wire(WireError::Io(e)) => Observation::new(Class::Reset, "connection reset")
                .cause(format!("{shown}: {e}"))
                .fix("the server may be starting or restarting; see its error log"),
            MyError::Wire(e @ (WireError::TooLarge(_) | WireError::Malformed(_))) => {
                Observation::new(Class::Other, "answered, but not as MySQL")
                    .cause(format!("{shown}: {e}"))
                    .fix("check the host and port (3306 for MySQL and MariaDB); a TLS-only port is not MySQL's")
            }
            MyError::Unexpected(b) => Observation::new(Class::Other, "answered, but not as MySQL")
                .cause(format!("{shown} sent a packet starting with 0x{b:02x} during the login"))
                .fix("check the host and port"),
            MyError::NoTls => Observation::new(Class::Tls, "TLS: not offered by the server")
                .cause(format!("{shown} does not offer TLS (no CLIENT_SSL in its greeting), and --tls was given"))
                .fix("configure the server's TLS (ssl_cert, ssl_key; MySQL 8 has it on by default), or drop --tls"),
            MyError::Tls(e) => Observation::new(Class::Tls, "TLS: handshake failed")
                .cause(format!("{shown}: {e}")),
            MyError::RsaNeeded => Observation::new(Class::Unauthorized, "up, login needs TLS (caching_sha2_password full authentication)")
                .cause(format!("{shown} asked for caching_sha2_password's full authentication for {user}: without TLS it wants the password RSA-encrypted, which kwait does not do"))
                .fix("add --tls (with --ca-cert, or --insecure-skip-tls-verify for the server's self-signed certificate): the password then goes inside TLS")
                .fix("a login with the same account over TLS, by any client, fills the server's cache, after which the fast path works without TLS until the server restarts"),
            MyError::CleartextWithoutTls => Observation::new(Class::Unauthorized, "up, but asks for the password in clear text without TLS")
                .cause(format!("{shown} asked for mysql_clear_password (a PAM or LDAP account) on a connection without TLS; kwait does not send a password in clear"))
                .fix("add --tls"),
            MyError::Plugin(name) => Observation::new(Class::Unauthorized, format!("up, but {user}'s authentication plugin is not supported"))
                .cause(format!("{shown} asked for the {} plugin; kwait speaks mysql_native_password, caching_sha2_password and (over TLS) mysql_clear_password", printable(&name, 60)))
                .fix(format!("use an account with one of those (ALTER USER {user} IDENTIFIED WITH mysql_native_password BY '...'), or wait-tcp")),
        }
    }

    fn server_error(
        &self,
        err: &ServerError,
        stage: usize,
        shown: &str,
        user: &str,
        db: &str,
    ) -> Observation {
        let said = format!(
            "{shown}: ERROR {}{}: {}",
            err.code,
            if err.state.is_empty() {
                String::new()
            } else {
                format!(" ({})", err.state)
            },
            printable(&err.message, SHOWN)
        );
        match err.code {
            1045 => Observation::new(Class::Unauthorized, "up, login failed (1045 access denied)")
                .cause(said)
                .fix(format!("check the password in --password-file and --user {user}; the account's host part must match the address kwait connects from (SELECT user, host FROM mysql.user)")),
            1049 => Observation::new(Class::NotFound, format!("up, database {db} does not exist (1049)"))
                .cause(said)
                .fix("wait for whatever creates it (an init script, MYSQL_DATABASE, a migration Job), or check --database"),
            1044 => Observation::new(Class::Forbidden, format!("up, {user} may not use database {db} (1044)"))
                .cause(said)
                .fix(format!("GRANT the account privileges on {db}.*")),
            1130 => Observation::new(Class::Forbidden, "up, but refuses this host (1130)")
                .cause(said)
                .fix(format!("create the account for the client's address or '%' (CREATE USER '{user}'@'%' ...)")),
            1129 => Observation::new(Class::Forbidden, "up, but blocks this host (1129)")
                .cause(said)
                .fix("FLUSH HOSTS (or mariadb-admin flush-hosts) on the server; raise max_connect_errors"),
            1040 | 1203 => Observation::new(Class::NotReady, format!("up, but too many connections ({})", err.code))
                .cause(said)
                .fix("wait, or raise max_connections; check for connection leaks"),
            1053 | 1077 | 1079 | 1080 | 1152 | 1927 => Observation::new(Class::NotReady, format!("not ready ({}): {}", err.code, printable(&err.message, 80)))
                .cause(said)
                .fix("the server is starting, restarting or shutting down; wait"),
            3159 => Observation::new(Class::Tls, "up, but requires TLS (3159)")
                .cause(said)
                .fix("add --tls"),
            3118 | 4151 => Observation::new(Class::Forbidden, format!("up, but the account {user} is locked ({})", err.code))
                .cause(said)
                .fix(format!("ALTER USER {user} ACCOUNT UNLOCK")),
            1862 | 1820 => Observation::new(Class::Unauthorized, format!("up, but {user}'s password has expired ({})", err.code))
                .cause(said)
                .fix("set a new password for the account (ALTER USER ... IDENTIFIED BY ...)"),
            code => {
                let what = match stage {
                    0 => "refused the connection",
                    2 => "refused the login",
                    3 => "refused COM_INIT_DB",
                    _ => "answered COM_PING with an error",
                };
                Observation::new(Class::NotReady, format!("up, but {what} ({code})"))
                    .cause(said)
                    .fix("see the server's error log; the message is the server's own")
            }
        }
    }
}

/// The answer to a scramble for `plugin` (the two that scramble).
fn scramble(plugin: &str, password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if plugin == "caching_sha2_password" {
        wire::sha2_scramble(password, nonce)
    } else {
        wire::native_scramble(password, nonce)
    }
}

/// One command (sequence id 0) and its OK; an ERR is the server's answer at `stage`.
async fn command(s: &mut dyn Stream, cmd: &[u8], stage: usize) -> Result<(), MyError> {
    wire::write_packet(s, 0, cmd).await?;
    let p = wire::read_packet(s).await?;
    match p.body.first().copied() {
        Some(0x00) => Ok(()),
        Some(0xff) => Err(MyError::Server(wire::parse_error(&p.body)?, stage)),
        Some(other) => Err(MyError::Unexpected(other)),
        None => Err(WireError::Malformed("empty packet").into()),
    }
}

/// wait-mysql's side of a failed handshake (the rest is worded by [`handshake_failed`]).
const TLS_HINTS: Hints = Hints {
    not_tls: "check that the server has TLS configured (ssl_cert and ssl_key), or drop --tls",
    settings: Some(
        "ssl_cert, ssl_key, tls_version in the server's configuration; kwait sends no client certificate, so an account REQUIRE X509 cannot log in",
    ),
};

impl Probe for MysqlProbe {
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
    use crate::plan::{Password, TcpTarget};
    use crate::probe::test_runtime as rt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const NONCE: &[u8; 20] = b"0123456789abcdefghij";

    /// A greeting for `plugin` with [`NONCE`] (no TLS offered).
    fn greeting(plugin: &str) -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(b"8.4.3\0");
        g.extend_from_slice(&[7, 0, 0, 0]);
        g.extend_from_slice(&NONCE[..8]);
        g.push(0);
        g.extend_from_slice(&0xf7ffu16.to_le_bytes());
        g.push(255);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&0x000fu16.to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(&NONCE[8..]);
        g.push(0);
        g.extend_from_slice(plugin.as_bytes());
        g.push(0);
        g
    }

    fn frame(seq: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![body.len() as u8, (body.len() >> 8) as u8, 0, seq];
        out.extend_from_slice(body);
        out
    }

    async fn read_frame(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.unwrap();
        let mut body = vec![0u8; usize::from(head[0]) | usize::from(head[1]) << 8];
        s.read_exact(&mut body).await.unwrap();
        body
    }

    /// One check of user `app` (password `hola`) against a server that runs `script` on the
    /// connection; the script's result is what the server saw.
    async fn check_against<F, Fut>(script: F) -> (Check, Vec<Vec<u8>>)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<Vec<u8>>> + Send,
    {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            script(s).await
        });
        let target = MysqlTarget {
            addr: TcpTarget {
                host: "127.0.0.1".into(),
                port,
            },
            user: "app".into(),
            password: Some(Password::for_tests(b"hola")),
            database: None,
            tls: TlsChoice::Off,
            password_file: "/pw".into(),
        };
        let c = MysqlProbe::new(&target)
            .unwrap()
            .check(Duration::from_secs(5))
            .await;
        (c, server.await.unwrap())
    }

    /// The handshake response's auth data (after the 32-byte head and the NUL-ended user).
    fn auth_of(response: &[u8]) -> Vec<u8> {
        let at = 32 + response[32..].iter().position(|&b| b == 0).unwrap() + 1;
        let n = usize::from(response[at]);
        response[at + 1..at + 1 + n].to_vec()
    }

    #[test]
    fn caching_sha2_fast_path_and_an_auth_switch_are_answered_with_the_right_scrambles() {
        rt().block_on(async {
            let (c, seen) = check_against(|mut s| async move {
                let mut seen = Vec::new();
                s.write_all(&frame(0, &greeting("caching_sha2_password")))
                    .await
                    .unwrap();
                seen.push(read_frame(&mut s).await);
                // Switch to mysql_native_password with a new nonce.
                let mut switch = b"\xfemysql_native_password\0".to_vec();
                switch.extend_from_slice(b"ABCDEFGHIJKLMNOPQRST\0");
                s.write_all(&frame(2, &switch)).await.unwrap();
                seen.push(read_frame(&mut s).await);
                s.write_all(&frame(4, b"\x00\x00\x00\x02\x00\x00\x00"))
                    .await
                    .unwrap();
                seen.push(read_frame(&mut s).await);
                s.write_all(&frame(1, b"\x00\x00\x00\x02\x00\x00\x00"))
                    .await
                    .unwrap();
                seen
            })
            .await;
            assert!(
                matches!(&c, Check::Ready(t) if t.contains("(8.4.3) logged app in")),
                "{c:?}"
            );
            assert_eq!(auth_of(&seen[0]), wire::sha2_scramble(b"hola", NONCE));
            assert!(seen[0].ends_with(b"caching_sha2_password\0"));
            assert_eq!(
                seen[1],
                wire::native_scramble(b"hola", b"ABCDEFGHIJKLMNOPQRST")
            );
            assert_eq!(seen[2], [wire::COM_PING]);
        });
    }

    #[test]
    fn caching_sha2_fast_auth_success_is_followed_by_the_ok_and_the_ping() {
        rt().block_on(async {
            let (c, seen) = check_against(|mut s| async move {
                s.write_all(&frame(0, &greeting("caching_sha2_password")))
                    .await
                    .unwrap();
                let first = read_frame(&mut s).await;
                // "fast auth success", then the OK of the login.
                s.write_all(&frame(2, b"\x01\x03")).await.unwrap();
                s.write_all(&frame(3, b"\x00\x00\x00\x02\x00\x00\x00"))
                    .await
                    .unwrap();
                let ping = read_frame(&mut s).await;
                s.write_all(&frame(1, b"\x00\x00\x00\x02\x00\x00\x00"))
                    .await
                    .unwrap();
                vec![first, ping]
            })
            .await;
            assert!(matches!(&c, Check::Ready(_)), "{c:?}");
            assert_eq!(auth_of(&seen[0]), wire::sha2_scramble(b"hola", NONCE));
            assert_eq!(seen[1], [wire::COM_PING]);
        });
    }

    #[test]
    fn full_authentication_without_tls_says_to_use_tls_and_sends_no_password() {
        rt().block_on(async {
            let (c, seen) = check_against(|mut s| async move {
                s.write_all(&frame(0, &greeting("caching_sha2_password")))
                    .await
                    .unwrap();
                let first = read_frame(&mut s).await;
                // "perform full authentication": the password is not cached.
                s.write_all(&frame(2, b"\x01\x04")).await.unwrap();
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(Duration::from_millis(300), s.read_to_end(&mut rest))
                    .await;
                vec![first, rest]
            })
            .await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                o.state,
                "up, login needs TLS (caching_sha2_password full authentication)"
            );
            assert!(o.fix[0].starts_with("add --tls"), "{:?}", o.fix);
            assert!(!seen[1].windows(4).any(|w| w == b"hola"), "{:?}", seen[1]);
        });
    }

    #[test]
    fn an_error_before_the_greeting_and_a_huge_packet_are_named() {
        rt().block_on(async {
            let (c, _) = check_against(|mut s| async move {
                s.write_all(&frame(0, b"\xff\x10\x04Too many connections"))
                    .await
                    .unwrap();
                Vec::new()
            })
            .await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(o.state, "up, but too many connections (1040)");
            let (c, _) = check_against(|mut s| async move {
                s.write_all(&[0xff, 0xff, 0xff, 0]).await.unwrap();
                Vec::new()
            })
            .await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(o.state, "answered, but not as MySQL");
        });
    }
}
