//! The `wait-rabbitmq` probe: AMQP 0-9-1 as far as a client's first use needs it.
//!
//! Without `--password-file`, ready when the broker answers the protocol header with
//! `Connection.Start` (it accepts AMQP connections; RabbitMQ opens its listener only once it
//! has booted). With it, kwait logs in with PLAIN (`Connection.Start-Ok`), agrees the limits
//! (`Tune`/`Tune-Ok`, heartbeats off), opens the vhost (`Connection.Open` → `Open-Ok`) and
//! closes cleanly (`Connection.Close` → `Close-Ok`): ready means "this user can open this
//! vhost now". The client properties advertise `capabilities.authentication_failure_close`,
//! so a refused login is answered `Connection.Close` 403 ACCESS_REFUSED instead of a closed
//! socket. A vhost that does not exist and one the user may not open are both 530
//! NOT_ALLOWED; only the reply text tells them apart (`vhost X not found`, `access to vhost
//! 'X' refused for user 'U'`), so it is read for that, and shown escaped.
//!
//! Every frame is capped ([`FRAME_CAP`]), the whole exchange ends at the attempt's deadline,
//! and the password is sent only in the PLAIN response.
//!
//! References: the AMQP 0-9-1 specification (section 4.2, the frame format; the `connection`
//! class) and RabbitMQ's "Authentication Failure Notifications" capability.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tcp::{dial_named, exchange_failed};
use super::{BoxFuture, Check, Class, Observation, Probe, Stream};
use crate::net::text::printable;
use crate::net::tls::{Hints, SetupError, StreamTls};
use crate::plan::RabbitmqTarget;

/// The protocol header of AMQP 0-9-1.
const HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// The octet that ends every frame.
const FRAME_END: u8 = 0xCE;
/// The largest frame read, and the `frame_max` kwait agrees to: RabbitMQ's default (128 KiB);
/// the frames of the connection class are a few hundred bytes.
pub const FRAME_CAP: u32 = 128 * 1024;

/// `connection` class methods (class 10).
const CONNECTION: u16 = 10;
const START: u16 = 10;
const START_OK: u16 = 11;
const TUNE: u16 = 30;
const TUNE_OK: u16 = 31;
const OPEN: u16 = 40;
const OPEN_OK: u16 = 41;
const CLOSE: u16 = 50;
const CLOSE_OK: u16 = 51;

/// How much of a server's text a state line shows.
const SHOWN: usize = 200;

/// Why an exchange ended without `Open-Ok`.
#[derive(Debug, thiserror::Error)]
enum AmqpError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the connection was closed")]
    Closed,
    #[error("the server answered with the protocol header of AMQP {0}.{1}.{2}, not 0-9-1")]
    Version(u8, u8, u8),
    #[error("not an AMQP frame (it starts with {0:?})")]
    NotAmqp(String),
    #[error("a frame of {0} bytes, over the 128 KiB cap")]
    TooLarge(u32),
    #[error("malformed frame ({0})")]
    Malformed(&'static str),
    #[error("unexpected method {0}.{1}")]
    Unexpected(u16, u16),
    #[error("PLAIN not offered (the server offers {0:?})")]
    NoPlain(String),
    /// `Connection.Close` from the server.
    #[error("{code} {text}")]
    Close { code: u16, text: String },
    #[error("TLS")]
    Tls(Observation),
}

/// How far an exchange got.
#[derive(Clone, Copy)]
enum Stage {
    Handshake,
    Tls,
    Login,
    Open,
}

impl Stage {
    fn waited(self) -> &'static str {
        match self {
            Stage::Handshake => "Connection.Start did not come",
            Stage::Tls => "the TLS handshake did not finish",
            Stage::Login => "the login was not answered",
            Stage::Open => "the vhost was not opened",
        }
    }
}

/// One frame.
struct Frame {
    kind: u8,
    payload: Vec<u8>,
}

/// Reads one frame (at most [`FRAME_CAP`]).
async fn read_frame(s: &mut dyn Stream) -> Result<Frame, AmqpError> {
    let mut head = [0u8; 7];
    read_exact(s, &mut head).await?;
    if &head[..4] == b"AMQP" {
        let mut last = [0u8; 1];
        read_exact(s, &mut last).await?;
        return Err(AmqpError::Version(head[5], head[6], last[0]));
    }
    if !matches!(head[0], 1..=3 | 8) {
        return Err(AmqpError::NotAmqp(
            String::from_utf8_lossy(&head).into_owned(),
        ));
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
    if size > FRAME_CAP {
        return Err(AmqpError::TooLarge(size));
    }
    let mut payload = vec![0u8; size as usize + 1];
    read_exact(s, &mut payload).await?;
    if payload.pop() != Some(FRAME_END) {
        return Err(AmqpError::Malformed("no frame-end octet"));
    }
    Ok(Frame {
        kind: head[0],
        payload,
    })
}

async fn read_exact(s: &mut dyn Stream, buf: &mut [u8]) -> Result<(), AmqpError> {
    match s.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(AmqpError::Closed),
        Err(e) => Err(e.into()),
    }
}

/// The next method on channel 0 (heartbeats skipped): class, method and arguments.
async fn read_method(s: &mut dyn Stream) -> Result<(u16, u16, Reader), AmqpError> {
    loop {
        let f = read_frame(s).await?;
        match f.kind {
            8 => continue,
            1 => {
                let mut r = Reader(f.payload, 0);
                let class = r.u16()?;
                let method = r.u16()?;
                return Ok((class, method, r));
            }
            _ => return Err(AmqpError::Malformed("a content frame before Open-Ok")),
        }
    }
}

/// A method's arguments, read in order.
struct Reader(Vec<u8>, usize);

impl Reader {
    fn take(&mut self, n: usize) -> Result<&[u8], AmqpError> {
        let end = self.1.checked_add(n).filter(|e| *e <= self.0.len());
        let end = end.ok_or(AmqpError::Malformed("a field runs past the frame"))?;
        let out = &self.0[self.1..end];
        self.1 = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, AmqpError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, AmqpError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, AmqpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn short_str(&mut self) -> Result<String, AmqpError> {
        let n = self.u8()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn long_bytes(&mut self) -> Result<Vec<u8>, AmqpError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
}

/// The `product` and `version` strings of a field table (the server's properties), when they
/// are there; other fields are skipped by their type's size.
fn product(table: &[u8]) -> Option<String> {
    let mut r = Reader(table.to_vec(), 0);
    let (mut product, mut version) = (None, None);
    while r.1 < r.0.len() {
        let name = r.short_str().ok()?;
        let kind = r.u8().ok()?;
        let size = match kind {
            b't' | b'b' | b'B' => 1,
            b's' | b'u' => 2,
            b'I' | b'i' | b'f' => 4,
            b'l' | b'L' | b'd' | b'T' => 8,
            b'D' => 5,
            b'V' => 0,
            b'S' | b'x' | b'A' | b'F' => {
                let value = r.long_bytes().ok()?;
                if kind == b'S' {
                    let text = String::from_utf8_lossy(&value).into_owned();
                    match name.as_str() {
                        "product" => product = Some(text),
                        "version" => version = Some(text),
                        _ => {}
                    }
                }
                0
            }
            _ => return None,
        };
        r.take(size).ok()?;
    }
    Some(match (product, version) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p,
        _ => return None,
    })
}

/// A method frame on channel 0.
fn method(class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let size = 4 + args.len();
    let mut out = Vec::with_capacity(size + 8);
    out.push(1);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(size as u32).to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&method.to_be_bytes());
    out.extend_from_slice(args);
    out.push(FRAME_END);
    out
}

fn short_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s[..s.len().min(255)]);
}

fn long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// A field table of strings, and tables of booleans.
fn table(out: &mut Vec<u8>, fields: &[(&str, Field<'_>)]) {
    let mut body = Vec::new();
    for (name, value) in fields {
        short_str(&mut body, name.as_bytes());
        match value {
            Field::Text(s) => {
                body.push(b'S');
                long_str(&mut body, s.as_bytes());
            }
            Field::Flags(flags) => {
                body.push(b'F');
                let inner: Vec<(&str, Field<'_>)> =
                    flags.iter().map(|f| (*f, Field::True)).collect();
                table(&mut body, &inner);
            }
            Field::True => body.extend_from_slice(&[b't', 1]),
        }
    }
    long_str(out, &body);
}

enum Field<'a> {
    Text(&'a str),
    Flags(&'a [&'a str]),
    True,
}

/// `Connection.Start-Ok`: kwait's properties and capabilities, PLAIN with `user` and
/// `password`.
fn start_ok(user: &str, password: &[u8]) -> Vec<u8> {
    let mut args = Vec::new();
    table(
        &mut args,
        &[
            ("product", Field::Text("kwait")),
            ("version", Field::Text(crate::version::VERSION)),
            ("platform", Field::Text("Rust")),
            ("connection_name", Field::Text("kwait wait-rabbitmq")),
            (
                "capabilities",
                Field::Flags(&["authentication_failure_close"]),
            ),
        ],
    );
    short_str(&mut args, b"PLAIN");
    let mut response = Vec::with_capacity(user.len() + password.len() + 2);
    response.push(0);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.extend_from_slice(password);
    long_str(&mut args, &response);
    short_str(&mut args, b"en_US");
    method(CONNECTION, START_OK, &args)
}

/// Waits for RabbitMQ to accept a connection (and, with a password, the login and the vhost).
#[derive(Debug)]
pub struct RabbitmqProbe {
    target: RabbitmqTarget,
    tls: Option<StreamTls>,
}

/// What `target` waits for, e.g. `RabbitMQ rabbitmq:5672 (TLS, user app, vhost /)`.
pub fn describe(target: &RabbitmqTarget) -> String {
    let login = target.user.as_ref().map(|u| {
        format!(
            "user {}, vhost {}",
            printable(u, 60),
            printable(&target.vhost, 60)
        )
    });
    super::described("RabbitMQ", &target.addr, &target.tls, login)
}

/// wait-rabbitmq's side of a failed handshake.
const TLS_HINTS: Hints = Hints {
    not_tls: "check that the port is RabbitMQ's TLS listener (listeners.ssl, 5671 by default), or use amqp:// without --tls",
    settings: Some(
        "listeners.ssl and ssl_options in rabbitmq.conf; kwait sends no client certificate, so ssl_options.fail_if_no_peer_cert must be false",
    ),
};

impl RabbitmqProbe {
    /// The probe; with TLS, its client (trust roots read now).
    pub fn new(target: &RabbitmqTarget) -> Result<RabbitmqProbe, SetupError> {
        Ok(RabbitmqProbe {
            target: target.clone(),
            tls: StreamTls::when_on(&target.tls, &target.addr.host, "wait-rabbitmq", TLS_HINTS)?,
        })
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let (tcp, shown) = match dial_named(&self.target.addr, attempt_timeout, deadline).await {
            Ok(s) => s,
            Err(o) => return Check::Pending(o),
        };
        let stage = AtomicUsize::new(Stage::Handshake as usize);
        let session = self.session(tcp, &shown, attempt_timeout, deadline, &stage);
        match tokio::time::timeout_at(deadline, session).await {
            Ok(Ok((server, mut s))) => {
                // A clean goodbye, so the broker logs no "client unexpectedly closed TCP
                // connection": after Open-Ok, within what is left of the attempt, and not part
                // of the judgement (a broker slow to answer Close is still ready).
                if self.target.password.is_some() {
                    let _ = tokio::time::timeout_at(deadline, close(&mut *s)).await;
                }
                Check::Ready(self.ready(&shown, server))
            }
            Ok(Err(e)) => Check::Pending(self.observation(e, &shown)),
            Err(_) => {
                let waited = match stage.load(Ordering::Relaxed) {
                    1 => Stage::Tls,
                    2 => Stage::Login,
                    3 => Stage::Open,
                    _ => Stage::Handshake,
                };
                Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!(
                            "{shown} accepted the connection, but {} within {}",
                            waited.waited(),
                            crate::duration::format(attempt_timeout)
                        ))
                        .fix("the broker may be booting or overloaded, or this is not its AMQP port (5672, 5671 with TLS); check its logs"),
                )
            }
        }
    }

    fn ready(&self, shown: &str, server: Option<String>) -> String {
        let server = server
            .map(|s| format!(" ({})", printable(&s, 60)))
            .unwrap_or_default();
        match &self.target.user {
            Some(u) if self.target.password.is_some() => format!(
                "RabbitMQ {shown}{server}: user {} opened vhost {}",
                printable(u, 60),
                printable(&self.target.vhost, 60)
            ),
            _ => format!("RabbitMQ {shown}{server} accepts AMQP 0-9-1 connections"),
        }
    }

    /// The exchange, over TLS when asked for; when ready, the server's product and version,
    /// and the connection (to close).
    async fn session(
        &self,
        tcp: tokio::net::TcpStream,
        shown: &str,
        attempt_timeout: Duration,
        deadline: tokio::time::Instant,
        stage: &AtomicUsize,
    ) -> Result<(Option<String>, Box<dyn Stream>), AmqpError> {
        let mut s: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                stage.store(Stage::Tls as usize, Ordering::Relaxed);
                let s = tls
                    .connect(tcp, deadline, shown, attempt_timeout)
                    .await
                    .map_err(AmqpError::Tls)?;
                stage.store(Stage::Handshake as usize, Ordering::Relaxed);
                Box::new(s)
            }
        };
        let server = self.exchange(&mut *s, stage).await?;
        Ok((server, s))
    }

    async fn exchange(
        &self,
        s: &mut dyn Stream,
        stage: &AtomicUsize,
    ) -> Result<Option<String>, AmqpError> {
        s.write_all(HEADER).await?;
        let (class, m, mut r) = read_method(s).await?;
        if (class, m) != (CONNECTION, START) {
            return Err(AmqpError::Unexpected(class, m));
        }
        let _version = (r.u8()?, r.u8()?);
        let server = product(&r.long_bytes()?);
        let mechanisms = String::from_utf8_lossy(&r.long_bytes()?).into_owned();
        let (Some(user), Some(password)) = (&self.target.user, &self.target.password) else {
            return Ok(server);
        };
        if !mechanisms.split(' ').any(|m| m == "PLAIN") {
            return Err(AmqpError::NoPlain(mechanisms));
        }
        s.write_all(&start_ok(user, password.bytes())).await?;
        stage.store(Stage::Login as usize, Ordering::Relaxed);
        let mut r = expect(s, TUNE).await?;
        let channel_max = r.u16()?;
        let frame_max = match r.u32()? {
            0 => FRAME_CAP,
            n => n.min(FRAME_CAP),
        };
        let mut args = Vec::with_capacity(8);
        args.extend_from_slice(&channel_max.to_be_bytes());
        args.extend_from_slice(&frame_max.to_be_bytes());
        args.extend_from_slice(&0u16.to_be_bytes());
        let mut out = method(CONNECTION, TUNE_OK, &args);
        let mut open = Vec::new();
        short_str(&mut open, self.target.vhost.as_bytes());
        short_str(&mut open, b"");
        open.push(0);
        out.extend(method(CONNECTION, OPEN, &open));
        s.write_all(&out).await?;
        stage.store(Stage::Open as usize, Ordering::Relaxed);
        expect(s, OPEN_OK).await?;
        Ok(server)
    }

    fn observation(&self, e: AmqpError, shown: &str) -> Observation {
        let user = self.target.user.as_deref().map(|u| printable(u, 60));
        let vhost = printable(&self.target.vhost, 60);
        match e {
            AmqpError::Close { code, text } => {
                let said = format!("{code} {}", printable(&text, SHOWN));
                let lower = text.to_ascii_lowercase();
                let user = user.unwrap_or_default();
                match code {
                    403 => Observation::new(Class::Unauthorized, "up, login failed")
                        .cause(format!("{shown} is up and refused the login of user {user}: {said}"))
                        .fix(format!("check --user and the password in --password-file (the broker can test them: rabbitmqctl authenticate_user {user} PASSWORD); the guest user may log in from localhost only")),
                    530 if lower.contains("not found") => Observation::new(Class::NotFound, format!("up, vhost {vhost} not found"))
                        .cause(format!("{shown} logged user {user} in, but has no vhost {vhost}: {said}"))
                        .fix(format!("create it (rabbitmqctl add_vhost {vhost}, or the definitions / Vhost resource that should); kwait waits until it exists")),
                    530 if lower.contains("access to vhost") => Observation::new(Class::Forbidden, format!("up, user {user} may not open vhost {vhost}"))
                        .cause(format!("{shown} logged user {user} in, but refused it vhost {vhost}: {said}"))
                        .fix(format!("grant it: rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*' (or the Permission resource); kwait waits until it may")),
                    320 => Observation::new(Class::NotReady, "not ready: the broker closed the connection")
                        .cause(format!("{shown}: {said}"))
                        .fix("the broker is shutting down or restarting; see its log"),
                    _ => Observation::new(Class::NotReady, format!("answered an error: {}", printable(&said, 80)))
                        .cause(format!("{shown} closed the connection: {said}"))
                        .fix("see the broker's log; the error is RabbitMQ's own words"),
                }
            }
            AmqpError::Tls(o) => o,
            AmqpError::NoPlain(offered) => Observation::new(Class::Other, "up, but PLAIN is not offered")
                .cause(format!("{shown} offers {} but not PLAIN, the only mechanism kwait speaks", printable(&offered, 80)))
                .fix("enable PLAIN in auth_mechanisms of rabbitmq.conf (it is on by default)"),
            AmqpError::Closed => {
                let mut o = Observation::new(Class::Reset, "connection closed without an answer")
                    .cause(format!("{shown} closed the connection during the AMQP handshake"))
                    .fix("the broker may be booting, shutting down or at its connection limit; check its log");
                if self.tls.is_none() {
                    o = o.fix("if this is the TLS port, use amqps:// or --tls");
                }
                o
            }
            AmqpError::Io(e) => exchange_failed(&e, shown),
            e @ (AmqpError::Version(..)
            | AmqpError::NotAmqp(_)
            | AmqpError::TooLarge(_)
            | AmqpError::Malformed(_)
            | AmqpError::Unexpected(..)) => Observation::new(Class::Other, "answered, but not as AMQP 0-9-1")
                .cause(format!("{shown}: {}", printable(&e.to_string(), SHOWN)))
                .fix("check the host and port: RabbitMQ's AMQP port is 5672 (5671 with TLS; 15672 is the management UI)"),
        }
    }
}

/// `Connection.Close` (200, normal) and the broker's `Close-Ok`.
async fn close(s: &mut dyn Stream) {
    let mut args = Vec::new();
    args.extend_from_slice(&200u16.to_be_bytes());
    short_str(&mut args, b"kwait: ready");
    args.extend_from_slice(&[0, 0, 0, 0]);
    if s.write_all(&method(CONNECTION, CLOSE, &args)).await.is_ok() {
        let _ = read_method(s).await;
    }
}

/// The next method, which must be `connection.want`; a `Connection.Close` is answered with
/// `Close-Ok` and becomes [`AmqpError::Close`].
async fn expect(s: &mut dyn Stream, want: u16) -> Result<Reader, AmqpError> {
    let (class, m, mut r) = read_method(s).await?;
    match (class, m) {
        (CONNECTION, got) if got == want => Ok(r),
        (CONNECTION, CLOSE) => {
            let code = r.u16()?;
            let text = r.short_str()?;
            let _ = s.write_all(&method(CONNECTION, CLOSE_OK, &[])).await;
            Err(AmqpError::Close { code, text })
        }
        _ => Err(AmqpError::Unexpected(class, m)),
    }
}

impl Probe for RabbitmqProbe {
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

    /// Reads one frame the client sent (test side).
    async fn client_frame(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut head = [0u8; 7];
        s.read_exact(&mut head).await.unwrap();
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        let mut rest = vec![0u8; size + 1];
        s.read_exact(&mut rest).await.unwrap();
        rest
    }

    /// A broker that logs the client in and opens the vhost, then `after_open`: answers
    /// Close-Ok, or (false) never answers again.
    async fn broker(close_ok: bool) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut header = [0u8; 8];
            s.read_exact(&mut header).await.unwrap();
            assert_eq!(&header, HEADER);
            let mut start = vec![0, 9];
            table(&mut start, &[("product", Field::Text("RabbitMQ"))]);
            long_str(&mut start, b"AMQPLAIN PLAIN");
            long_str(&mut start, b"en_US");
            s.write_all(&method(CONNECTION, START, &start))
                .await
                .unwrap();
            client_frame(&mut s).await;
            let tune = [0, 0, 0, 2, 0, 0, 0, 60];
            s.write_all(&method(CONNECTION, TUNE, &tune)).await.unwrap();
            client_frame(&mut s).await;
            let open = client_frame(&mut s).await;
            assert_eq!(&open[..7], &[0, 10, 0, 40, 1, b'/', 0]);
            s.write_all(&method(CONNECTION, OPEN_OK, &[0]))
                .await
                .unwrap();
            client_frame(&mut s).await;
            if close_ok {
                s.write_all(&method(CONNECTION, CLOSE_OK, &[]))
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        port
    }

    fn target(port: u16) -> RabbitmqTarget {
        RabbitmqTarget {
            addr: TcpTarget {
                host: "127.0.0.1".into(),
                port,
            },
            user: Some("app".into()),
            password: Some(Password::for_tests(b"pw")),
            vhost: "/".into(),
            tls: TlsChoice::Off,
            password_file: None,
        }
    }

    /// The goodbye after Open-Ok is courtesy: a broker that never answers Close-Ok (before the
    /// close was taken out of the judged exchange, the attempt then timed out) is ready.
    #[test]
    fn an_unanswered_close_after_open_ok_is_still_ready() {
        rt().block_on(async {
            for close_ok in [true, false] {
                let port = broker(close_ok).await;
                let mut p = RabbitmqProbe::new(&target(port)).unwrap();
                let c = p.check(Duration::from_millis(800)).await;
                assert!(
                    matches!(&c, Check::Ready(s) if s.ends_with("(RabbitMQ): user app opened vhost /")),
                    "{close_ok}: {c:?}"
                );
            }
        });
    }

    #[test]
    fn start_ok_is_the_frame_the_spec_describes() {
        let f = start_ok("app", b"p\0w");
        assert_eq!(f[0], 1);
        assert_eq!(&f[1..3], &[0, 0]);
        let size = u32::from_be_bytes([f[3], f[4], f[5], f[6]]) as usize;
        assert_eq!(f.len(), 7 + size + 1);
        assert_eq!(f[f.len() - 1], FRAME_END);
        let mut r = Reader(f[7..f.len() - 1].to_vec(), 0);
        assert_eq!((r.u16().unwrap(), r.u16().unwrap()), (10, 11));
        let props = r.long_bytes().unwrap();
        // The capability that makes RabbitMQ answer a refused login with 403.
        let cap = b"\x1cauthentication_failure_closet\x01";
        assert!(props.windows(cap.len()).any(|w| w == cap));
        assert_eq!(
            product(&props).as_deref(),
            Some(&*format!("kwait {}", crate::version::VERSION))
        );
        assert_eq!(r.short_str().unwrap(), "PLAIN");
        assert_eq!(r.long_bytes().unwrap(), b"\0app\0p\0w");
        assert_eq!(r.short_str().unwrap(), "en_US");
        assert_eq!(r.1, r.0.len());
    }

    #[test]
    fn a_field_table_of_every_type_is_skipped_to_its_strings() {
        let mut t = Vec::new();
        for (name, kind, value) in [
            ("a", b't', &[1u8][..]),
            ("b", b's', &[0, 1]),
            ("c", b'I', &[0, 0, 0, 1]),
            ("d", b'l', &[0; 8]),
            ("e", b'D', &[0; 5]),
            ("f", b'V', &[]),
            ("g", b'F', &[0, 0, 0, 0]),
        ] {
            short_str(&mut t, name.as_bytes());
            t.push(kind);
            t.extend_from_slice(value);
        }
        for (name, value) in [("product", "RabbitMQ"), ("version", "3.10.8")] {
            short_str(&mut t, name.as_bytes());
            t.push(b'S');
            long_str(&mut t, value.as_bytes());
        }
        assert_eq!(product(&t).as_deref(), Some("RabbitMQ 3.10.8"));
        t.push(1);
        assert_eq!(product(&t), None);
    }
}
