//! Loopback HTTP/HTTPS/TCP servers for wait-http and wait-tcp tests (and the benchmark).
//!
//! Each server runs on its own thread with its own tokio runtime, so plain `#[test]` functions
//! that run the kwait binary can use them. An [`HttpServer`] answers from a script of
//! [`Reply`]s: each reply is used once, the last one forever; the script can be replaced while
//! the server runs. Every request is recorded (method, path, headers).
//!
//! ```no_run
//! use testkit::netserve::{HttpServer, Reply};
//! let server = HttpServer::start(vec![Reply::status(503), Reply::json(200, r#"{"status":"ok"}"#)]);
//! let url = server.url("/health");
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

/// What a server does with one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    act: Act,
    delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Answer,
    /// Never answer (hold the connection open).
    Stall,
    /// Close the connection without an answer.
    Close,
    /// Answer with a body that never ends (the reply's body repeated).
    Endless,
    /// Answer with the request's headers as the body (`name: value` lines), like httpbin's
    /// `/headers`: a server that shows the client what it sent.
    Echo,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
            act: Act::Answer,
            delay: Duration::ZERO,
        }
    }

    /// A `text/plain` answer.
    pub fn text(code: u16, body: &str) -> Reply {
        Reply::status(code)
            .header("content-type", "text/plain")
            .body(body.as_bytes().to_vec())
    }

    /// An `application/json` answer.
    pub fn json(code: u16, body: &str) -> Reply {
        Reply::status(code)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
    }

    /// A request that is never answered.
    pub fn stall() -> Reply {
        Reply {
            act: Act::Stall,
            ..Reply::status(200)
        }
    }

    /// The connection is closed without an answer.
    pub fn close() -> Reply {
        Reply {
            act: Act::Close,
            ..Reply::status(200)
        }
    }

    /// A `200 OK` whose body never ends (`chunk` repeated), for caps on reading.
    pub fn endless(chunk: &str) -> Reply {
        Reply {
            act: Act::Endless,
            ..Reply::text(200, chunk)
        }
    }

    /// An answer with this status whose body lists the request's headers.
    pub fn echo(code: u16) -> Reply {
        Reply {
            act: Act::Echo,
            ..Reply::status(code).header("content-type", "text/plain")
        }
    }

    /// A redirect (`code` 301, 302, 303, 307 or 308) to `location`.
    pub fn redirect(code: u16, location: &str) -> Reply {
        Reply::status(code).header("location", location)
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Answers only after this long.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// One request a server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    replies: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

impl Shared {
    fn next(&mut self) -> Reply {
        if self.replies.len() > 1 {
            self.replies
                .pop_front()
                .unwrap_or_else(|| Reply::status(500))
        } else {
            self.replies
                .front()
                .cloned()
                .unwrap_or_else(|| Reply::status(500))
        }
    }
}

/// A certificate and key for an HTTPS server (PEM).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The leaf certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl Identity {
    /// A self-signed certificate for these names that is its own CA (basicConstraints CA:TRUE,
    /// as `openssl req -x509` makes by default): what a server set up by hand often presents.
    pub fn self_signed(names: &[&str]) -> Identity {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).expect("valid names");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A JSON text `depth` objects deep (`{"a":{"a":...}}`) around an array of `leaves` zeros: a
/// small body on which nested descendant queries (`$..*..*`) select millions of nodes.
pub fn nested_json(depth: usize, leaves: usize) -> String {
    let mut s = "{\"a\":".repeat(depth);
    s.push('[');
    s.push_str(&vec!["0"; leaves].join(","));
    s.push(']');
    s.push_str(&"}".repeat(depth));
    s
}

/// A throwaway CA for HTTPS tests.
pub struct TestCa {
    cert: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("empty SANs");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA certificate (PEM), for `--ca-cert`.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for these names (DNS names or IP addresses), valid for years.
    pub fn issue(&self, names: &[&str]) -> Identity {
        self.issue_with(names, false)
    }

    /// A server certificate for these names that expired in 2020.
    pub fn issue_expired(&self, names: &[&str]) -> Identity {
        self.issue_with(names, true)
    }

    fn issue_with(&self, names: &[&str], expired: bool) -> Identity {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).expect("valid names");
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A loopback HTTP or HTTPS server answering from a script.
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// An HTTP server on 127.0.0.1 (a free port).
    pub fn start(replies: Vec<Reply>) -> HttpServer {
        HttpServer::spawn("127.0.0.1", replies, None)
    }

    /// An HTTP server on another loopback address (`127.0.0.2`, ...): another host, for
    /// cross-origin redirects.
    pub fn start_at(ip: &str, replies: Vec<Reply>) -> HttpServer {
        HttpServer::spawn(ip, replies, None)
    }

    /// An HTTPS server on 127.0.0.1 with this certificate (HTTP/1.1 over TLS).
    pub fn start_tls(replies: Vec<Reply>, identity: &Identity) -> HttpServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("key PEM");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        HttpServer::spawn(
            "127.0.0.1",
            replies,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn spawn(ip: &str, replies: Vec<Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> HttpServer {
        let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a loopback address");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Mutex::new(Shared {
            replies: replies.into(),
            requests: Vec::new(),
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let is_tls = tls.is_some();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let shared = s.clone();
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            match tls {
                                Some(acceptor) => {
                                    if let Ok(stream) = acceptor.accept(stream).await {
                                        serve(TokioIo::new(stream), shared).await;
                                    }
                                }
                                None => serve(TokioIo::new(stream), shared).await,
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime cancels connection tasks, stalled ones included.
        });
        HttpServer {
            addr,
            tls: is_tls,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (or `https://localhost:PORT/path` for TLS, so that a
    /// certificate for `localhost` matches).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Replaces the script.
    pub fn set_replies(&self, replies: Vec<Reply>) {
        self.shared.lock().expect("lock").replies = replies.into();
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().expect("lock").requests.clone()
    }

    /// How many requests were received.
    pub fn hits(&self) -> usize {
        self.shared.lock().expect("lock").requests.len()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve<I>(io: TokioIo<I>, shared: Arc<Mutex<Shared>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let reply = {
                let mut s = shared.lock().expect("lock");
                s.requests.push(Recorded {
                    method: req.method().to_string(),
                    path: req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: headers.clone(),
                });
                s.next()
            };
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            let body = match reply.act {
                Act::Stall => std::future::pending::<ReplyBody>().await,
                Act::Close => return Err(CloseConnection),
                Act::Answer => ReplyBody::Full(Some(Bytes::from(reply.body))),
                Act::Endless => ReplyBody::Endless(Bytes::from(reply.body)),
                Act::Echo => ReplyBody::Full(Some(Bytes::from(
                    headers
                        .iter()
                        .map(|(n, v)| format!("{n}: {v}\n"))
                        .collect::<String>(),
                ))),
            };
            let mut resp = Response::builder().status(reply.status);
            for (n, v) in &reply.headers {
                resp = resp.header(n, v);
            }
            Ok::<_, CloseConnection>(resp.body(body).expect("response"))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// A reply's body: all at once, or a chunk repeated for ever.
enum ReplyBody {
    Full(Option<Bytes>),
    Endless(Bytes),
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(match self.get_mut() {
            ReplyBody::Full(b) => b
                .take()
                .filter(|b| !b.is_empty())
                .map(|b| Ok(Frame::data(b))),
            ReplyBody::Endless(chunk) if chunk.is_empty() => None,
            ReplyBody::Endless(chunk) => Some(Ok(Frame::data(chunk.clone()))),
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ReplyBody::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReplyBody::Full(b) => {
                hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            ReplyBody::Endless(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// The error a service returns to make hyper drop the connection without an answer.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closing the connection on purpose")
    }
}

impl std::error::Error for CloseConnection {}

/// A loopback port that was free a moment ago (nothing listens on it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A TCP server that accepts connections (and closes them at once), optionally starting
/// only after a delay.
pub struct TcpServer {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Listens on 127.0.0.1:`port` after `delay` (port 0: any free port, no delay allowed).
    pub fn start_after(port: u16, delay: Duration) -> TcpServer {
        assert!(
            port != 0 || delay.is_zero(),
            "a delayed server needs a fixed port"
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + delay;
            while std::time::Instant::now() < deadline {
                if st.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let l =
                std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the delayed port");
            l.set_nonblocking(true).expect("nonblocking");
            let _ = tx.send(l.local_addr().expect("address").port());
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let port = if port == 0 {
            rx.recv().expect("port")
        } else {
            port
        };
        TcpServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Listens on a free port now.
    pub fn start() -> TcpServer {
        TcpServer::start_after(0, Duration::ZERO)
    }

    /// Listens on a free port, accepts connections and holds them open without a word (and
    /// without reading): a port that is not the TLS server a client expects, or a hung one.
    pub fn start_silent() -> TcpServer {
        TcpServer::start_speaking(b"")
    }

    /// Listens on a free port, and on each connection writes `banner` (an SSH or SMTP greeting:
    /// not HTTP) and holds it open.
    pub fn start_speaking(banner: &[u8]) -> TcpServer {
        let banner = banner.to_vec();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("address").port();
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        use std::io::Write;
                        let _ = s.write_all(&banner);
                        held.push(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TcpServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
