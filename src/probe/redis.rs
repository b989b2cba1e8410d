//! The `wait-redis` probe: ready when the server answers `PING` with `PONG`.
//!
//! One check is one connection (wait-tcp's, to every resolved address at once; TLS over it with
//! `--tls`) carrying `AUTH [user] password` (with `--password-file`) and `PING`, pipelined in
//! one write, and the replies to them ([`resp`], every reply capped in size, every read bounded
//! by the attempt's deadline). An open port is not a ready Redis: while it loads its dataset it
//! answers `-LOADING`, a replica cut off from its master `-MASTERDOWN`, a server busy in a
//! script `-BUSY`; those are "not ready" with the server's words. `-NOAUTH`, `-WRONGPASS` and
//! `-NOPERM` say the server is up and what about the credentials is wrong.
//!
//! The password is sent as a RESP bulk string (any byte is safe), was registered as a secret
//! when it was read, and is never part of an observation.

pub mod resp;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tcp::dial;
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::text::printable;
use crate::net::tls::{Hints, StreamTls};
use crate::plan::RedisTarget;
use resp::{Reply, RespError};

/// How much of a server's error text a state line shows.
const SHOWN: usize = 120;

/// The probe could not be set up (bad `--ca-cert`, ...): exit code 2.
pub use crate::net::tls::SetupError;

/// Waits for Redis to answer `PING` with `PONG`.
#[derive(Debug)]
pub struct RedisProbe {
    target: RedisTarget,
    tls: Option<StreamTls>,
}

/// What `target` waits for, e.g. `Redis redis:6379 (TLS, user app)`.
pub fn describe(target: &RedisTarget) -> String {
    let login = match (&target.user, &target.password) {
        (Some(u), _) => Some(format!("user {}", printable(u, 60))),
        (None, Some(_)) => Some("password".to_string()),
        (None, None) => None,
    };
    super::described("Redis", &target.addr, &target.tls, login)
}

impl RedisProbe {
    /// The probe; with `--tls`, its TLS client (trust roots read now).
    pub fn new(target: &RedisTarget) -> Result<RedisProbe, SetupError> {
        Ok(RedisProbe {
            target: target.clone(),
            tls: StreamTls::when_on(&target.tls, &target.addr.host, "wait-redis", TLS_HINTS)?,
        })
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let (stream, addr) = match dial(&self.target.addr, attempt_timeout, deadline).await {
            Ok(s) => s,
            Err(o) => return Check::Pending(o),
        };
        let via = if addr.ip().to_string() == self.target.addr.host {
            String::new()
        } else {
            format!(" ({addr})")
        };
        let Some(tls) = &self.tls else {
            return self.talk(stream, &via, attempt_timeout, deadline).await;
        };
        let peer = format!("{}{via}", self.target.addr);
        match tls.connect(stream, deadline, &peer, attempt_timeout).await {
            Ok(s) => self.talk(s, &via, attempt_timeout, deadline).await,
            Err(o) => Check::Pending(o),
        }
    }

    /// `AUTH` (where a password is given) and `PING` over `stream`, and the judgement.
    async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        via: &str,
        attempt_timeout: Duration,
        deadline: tokio::time::Instant,
    ) -> Check {
        let shown = format!("{}{via}", self.target.addr);
        let mut out = Vec::new();
        if let Some(pw) = &self.target.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &self.target.user {
                args.push(u.as_bytes());
            }
            args.push(pw.bytes());
            out.extend(resp::command(&args));
        }
        out.extend(resp::command(&[b"PING"]));
        let wanted = if self.target.password.is_some() { 2 } else { 1 };
        let within = crate::duration::format(attempt_timeout);
        let timeout = |what: &str| {
            Check::Pending(
                Observation::new(Class::Timeout, "attempt timed out")
                    .cause(format!("{shown} accepted the connection but {what} within {within}"))
                    .fix("the server may be overloaded or not Redis; check its logs (and --tls if it expects TLS)"),
            )
        };
        match tokio::time::timeout_at(deadline, stream.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Check::Pending(self.closed(&shown, Some(&e))),
            Err(_) => return timeout("did not take the command"),
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut used = 0;
        let mut replies = Vec::new();
        let mut chunk = [0u8; 4096];
        while replies.len() < wanted {
            match resp::parse(&buf[used..]) {
                Ok(Some((reply, n))) => {
                    used += n;
                    replies.push(reply);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Check::Pending(self.not_redis(&shown, &e)),
            }
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(0)) if replies.is_empty() => {
                    return Check::Pending(self.closed(&shown, None));
                }
                // The server closed after answering AUTH (a failed AUTH, a protected mode
                // refusal): judge what it said.
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Check::Pending(self.closed(&shown, Some(&e))),
                // A refused AUTH may be all the server says: judge it; else PING is unanswered.
                Err(_) if matches!(replies.first(), Some(Reply::Error(_))) => break,
                Err(_) => return timeout("did not answer PING"),
            }
        }
        self.judge(&shown, &replies)
    }

    /// The judgement of the replies to `[AUTH,] PING`.
    fn judge(&self, shown: &str, replies: &[Reply]) -> Check {
        let (auth, ping) = if self.target.password.is_some() {
            (replies.first(), replies.get(1))
        } else {
            (None, replies.first())
        };
        if let Some(reply @ Reply::Error(_)) = auth {
            return Check::Pending(self.error(shown, reply, true));
        }
        match ping {
            Some(Reply::Simple(s)) if s == b"PONG" => {
                Check::Ready(format!("Redis {shown} answered PONG"))
            }
            Some(reply @ Reply::Error(_)) => Check::Pending(self.error(shown, reply, false)),
            Some(other) => Check::Pending(
                Observation::new(Class::Other, "answered PING without PONG")
                    .cause(format!(
                        "{shown} answered PING with {}, not +PONG",
                        printable(&format!("{other:?}"), SHOWN)
                    ))
                    .fix(
                        "check that this port is a Redis server (not a proxy or another protocol)",
                    ),
            ),
            None => Check::Pending(self.closed(shown, None)),
        }
    }

    /// An error reply (to `AUTH` when `to_auth`, else to `PING`).
    fn error(&self, shown: &str, reply: &Reply, to_auth: bool) -> Observation {
        let Reply::Error(line) = reply else {
            return Observation::new(Class::Other, "no error");
        };
        let text = printable(&String::from_utf8_lossy(line), SHOWN);
        let code = reply.error_code().unwrap_or_default();
        let user = match &self.target.user {
            Some(u) => format!("user {}", printable(u, 60)),
            None => "the default user".to_string(),
        };
        match code {
            b"LOADING" => Observation::new(Class::NotReady, format!("not ready: {text}"))
                .cause(format!("{shown} is loading its dataset (RDB or AOF) into memory and answers no commands until it is done"))
                .fix("wait; a large dataset takes a while (the server's log shows the progress); raise --timeout if it needs longer"),
            b"BUSY" => Observation::new(Class::NotReady, format!("not ready: {text}"))
                .cause(format!("{shown} is running a script or function longer than busy-reply-threshold"))
                .fix("wait for the script to end, or end it: SCRIPT KILL / FUNCTION KILL"),
            b"MASTERDOWN" => Observation::new(Class::NotReady, format!("not ready: {text}"))
                .cause(format!("{shown} is a replica whose link to its master is down (replica-serve-stale-data no)"))
                .fix("check the master and the replica's log (INFO replication)"),
            b"NOAUTH" => Observation::new(Class::Unauthorized, "up, authentication needed")
                .cause(format!("{shown} is up and requires a password: {text}"))
                .fix("pass --password-file FILE with the password (requirepass), and --user NAME for an ACL user; mount it from the Secret that holds it"),
            b"NOPERM" => Observation::new(Class::Forbidden, format!("up, but {user} may not run PING"))
                .cause(format!("{shown}: {text}"))
                .fix(format!("allow PING (and AUTH) for {user}, e.g. ACL SETUSER NAME +ping")),
            _ if to_auth => Observation::new(Class::Unauthorized, "up, authentication failed")
                .cause(format!("{shown} is up and refused AUTH as {user}: {text}"))
                .fix("check the password in --password-file (and --user): it must be the server's requirepass, or the ACL user's password; the user must be enabled (ACL LIST)"),
            b"WRONGPASS" => Observation::new(Class::Unauthorized, "up, authentication failed")
                .cause(format!("{shown}: {text}"))
                .fix("check the password in --password-file (and --user)"),
            _ => Observation::new(Class::NotReady, format!("answered an error: {text}"))
                .cause(format!("{shown} answered PING with an error: {text}"))
                .fix("see the server's log; the error is Redis's own words"),
        }
    }

    fn closed(&self, shown: &str, e: Option<&std::io::Error>) -> Observation {
        let how = match e {
            Some(e) => format!("reset the connection ({e})"),
            None => "closed the connection".to_string(),
        };
        let mut o = Observation::new(Class::Reset, "connection closed without an answer")
            .cause(format!(
                "{shown} accepted the connection, then {how} without answering PING"
            ))
            .fix("the server may be starting, at maxclients, or expect TLS");
        if self.tls.is_none() {
            o = o.fix("if the server has TLS enabled on this port, add --tls");
        }
        o
    }

    fn not_redis(&self, shown: &str, e: &RespError) -> Observation {
        Observation::new(Class::Other, "answered, but not as Redis")
            .cause(format!(
                "{shown} answered something that is not Redis: {}",
                printable(&e.to_string(), SHOWN)
            ))
            .fix("check the host and port; a TLS server needs --tls")
    }
}

/// wait-redis's side of a failed handshake (the rest is worded by [`handshake_failed`]).
const TLS_HINTS: Hints = Hints {
    not_tls: "check that the port is the server's tls-port (a plain port does not speak TLS), or drop --tls",
    settings: Some(
        "tls-port, tls-protocols and tls-ciphers in redis.conf; kwait sends no client certificate, so tls-auth-clients must be no or optional",
    ),
};

impl Probe for RedisProbe {
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
    use crate::plan::TcpTarget;
    use tokio::io::AsyncWriteExt;

    use crate::probe::test_runtime as rt;

    /// One check against a loopback server that answers every connection with `answer`.
    async fn check_against(answer: &'static [u8]) -> Check {
        check_with(answer, crate::plan::TlsChoice::Off, Duration::from_secs(3)).await
    }

    /// [`check_against`] with `tls` and an attempt timeout of `attempt`.
    async fn check_with(
        answer: &'static [u8],
        tls: crate::plan::TlsChoice,
        attempt: Duration,
    ) -> Check {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(answer).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let target = RedisTarget {
            addr: TcpTarget {
                host: "127.0.0.1".into(),
                port,
            },
            user: None,
            password: None,
            tls,
            password_file: None,
        };
        let mut p = RedisProbe::new(&target).unwrap();
        p.check(attempt).await
    }

    /// Before the handshake words were shared, wait-redis said "TLS handshake failed" (a
    /// plain port) and "TLS handshake timed out" (a stalled one), unlike wait-http.
    #[test]
    fn a_plain_port_and_a_stalled_handshake_read_as_in_every_probe() {
        rt().block_on(async {
            let insecure = || crate::plan::TlsChoice::Insecure;
            let secs = Duration::from_secs;
            let c = check_with(b"-ERR wrong protocol\r\n", insecure(), secs(3)).await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Tls, "TLS: handshake failed")
            );
            assert_eq!(o.fix, vec![TLS_HINTS.not_tls.to_string()]);
            let c = check_with(b"", insecure(), secs(1)).await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (
                    Class::Timeout,
                    "attempt timed out: TLS handshake did not finish"
                )
            );
            assert_eq!(o.fix.last(), Some(&TLS_HINTS.not_tls.to_string()));
        });
    }

    #[test]
    fn busy_and_masterdown_are_not_ready_with_the_servers_words() {
        rt().block_on(async {
            let c = check_against(b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n").await;
            let Check::Pending(o) = c else { panic!("{c:?}") };
            assert_eq!(o.class, Class::NotReady);
            assert!(o.state.starts_with("not ready: BUSY Redis is busy running a script."), "{}", o.state);
            let c = check_against(b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n").await;
            let Check::Pending(o) = c else { panic!("{c:?}") };
            assert!(o.state.starts_with("not ready: MASTERDOWN Link with MASTER is down"), "{}", o.state);
        });
    }

    #[test]
    fn what_is_not_redis_is_named_and_a_hostile_reply_is_cut_and_capped() {
        rt().block_on(async {
            let c = check_against(b"SSH-2.0-OpenSSH_9.2\r\n").await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Other, "answered, but not as Redis")
            );
            let c = check_against(b"-ERR \x1b[2J\xe2\x80\xaekwait: ready\r\n").await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert!(
                !o.state.contains('\x1b') && !o.state.contains('\u{202e}'),
                "{}",
                o.state
            );
            // A bulk string announced at 1 GiB is refused at once, not awaited or allocated.
            let c = check_against(b"$1073741824\r\n").await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert!(o.cause.unwrap().contains("too large"));
            let c = check_against(b"+PONG\r\n").await;
            assert!(
                matches!(&c, Check::Ready(t) if t.ends_with("answered PONG")),
                "{c:?}"
            );
        });
    }
}
