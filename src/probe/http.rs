//! The `wait-http` probe.
//!
//! One request per check, over a fresh connection (no idle pooling, so each check says whether
//! the server accepts connections *now*). reqwest with rustls and the ring provider; the rustls
//! configuration is built here and handed to reqwest preconfigured, so reqwest never builds its
//! platform verifier (which fails when the image has no CA bundle, even for `http://`).
//!
//! Trust roots: `--ca-cert` when given (only those CAs, like curl's `--cacert`), else the system
//! bundle when one exists (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `/etc/ssl/certs/...`, read by
//! rustls-native-certs; distroless/static ships one). With neither, `http://` works and an
//! `https://` check fails with a TLS cause that says so. No roots are compiled in.
//!
//! Credentials: the values of `--header`/`--header-file` and the URL's password (sent as
//! `Authorization: Basic`) are registered with [`add_secret`] and also replaced by `***` in
//! text taken from the answer (body snippets, found values, `Location`) before it is cut, in case
//! the server echoes them. Redirects are followed here, not by reqwest, so that these headers are
//! sent only while the redirects stay on the URL's origin (scheme, host and port): reqwest keeps
//! custom headers across hosts and sends a `Referer` with the original query. A redirect from
//! `https://` to `http://` is refused.
//!
//! Everything a server sent (body, found values, `Location`, error texts) passes through
//! [`printable`] before it becomes part of an observation.

pub(crate) mod budget;

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Url;
use rustls::NamedGroup;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::ServerName;
use serde_json::Value;

use super::tcp::connect_observation;
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::failure::{Failure, failure};
use crate::net::resolve::Resolver;
use crate::net::text::{add_secret, printable};
use crate::net::tls::{Hints, Roots, client_config, handshake_failed, handshake_timed_out};
use crate::plan::{BodyMatch, HttpTarget};

/// The most of a body that is read; the rest is never downloaded.
pub const BODY_CAP: usize = 64 * 1024;
/// How much of a body a report shows.
const SNIPPET: usize = 200;
/// How much of a found value or an expected text a state line shows.
const SHORT: usize = 60;
/// The most redirects followed in one check (as reqwest's default policy, and curl's 50 / 10).
const MAX_REDIRECTS: usize = 10;

/// wait-http's side of a failed handshake: the URL's scheme decides whether TLS is spoken.
const TLS_HINTS: Hints = Hints {
    not_tls: "use http:// if the server does not speak TLS on this port",
    settings: None,
};

/// The probe could not be set up (bad `--ca-cert`, ...): exit code 2.
pub use crate::net::tls::SetupError;

/// Waits for an HTTP(S) endpoint to answer as expected.
pub struct HttpProbe {
    target: HttpTarget,
    client: reqwest::Client,
    /// The URL without its user and password (they travel as `Authorization`).
    request_url: Url,
    /// The headers sent while the request stays on the URL's origin.
    headers: HeaderMap,
    /// Header values to scrub from text taken from answers.
    secrets: Vec<String>,
    roots: Roots,
    /// The URL with any password replaced by `***`.
    shown_url: String,
    /// How far TLS handshakes got, to tell a stalled handshake from a stalled answer.
    progress: Arc<Progress>,
}

impl std::fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbe")
            .field("url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

/// Where one request ended up: what the check judges.
struct Answer {
    response: reqwest::Response,
    /// The URL that gave it (after redirects).
    url: Url,
}

impl HttpProbe {
    /// Builds the client: TLS settings, redirects, resolver.
    pub fn new(target: &HttpTarget) -> Result<HttpProbe, SetupError> {
        let (mut tls, roots) = client_config(&target.tls, "HTTP client")?;
        // HTTP/1.1 only (reqwest is built without http2): offering h2 would let a server pick
        // a protocol the client cannot speak.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let progress = Arc::new(Progress::default());
        tls.resumption = Resumption::store(Arc::new(HelloWatch {
            progress: progress.clone(),
            inner: ClientSessionMemoryCache::new(32),
        }));
        tls.key_log = progress.clone();

        // Redirects are followed by `attempt` (headers only on the same origin, no Referer).
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::new(Resolver))
            .pool_max_idle_per_host(0)
            .user_agent(concat!("kwait/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::Client(format!("HTTP client: {}", chain(&e))))?;

        let mut headers = HeaderMap::new();
        let mut secrets = Vec::new();
        let mut remember = |text: &str| {
            // The whole value, and each word of it (the token after "Bearer"), longest first.
            for part in
                std::iter::once(text).chain(text.split_whitespace().filter(|w| w.len() >= 6))
            {
                if part.len() >= 3 && !secrets.iter().any(|s: &String| s == part) {
                    secrets.push(part.to_string());
                    add_secret(part);
                }
            }
        };
        for (name, value) in &target.headers {
            let mut value = value.clone();
            value.set_sensitive(true);
            remember(&String::from_utf8_lossy(value.as_bytes()));
            headers.append(name.clone(), value);
        }
        // `http://user:pw@host/`: sent as `Authorization: Basic`, as reqwest would, but under
        // the same origin rule as the other headers; the password, its decoded form and the
        // header value are credentials (a server that echoes request headers shows them).
        let mut request_url = target.url.clone();
        let user = percent_decode(request_url.username());
        let password = request_url.password().map(percent_decode);
        if !user.is_empty() || password.is_some() {
            let _ = request_url.set_username("");
            let _ = request_url.set_password(None);
            if let Some(raw) = target.url.password() {
                remember(raw);
            }
            let pass = password.unwrap_or_default();
            remember(&pass);
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            remember(&encoded);
            if !headers.contains_key(http::header::AUTHORIZATION)
                && let Ok(mut v) = HeaderValue::from_str(&format!("Basic {encoded}"))
            {
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
        }
        // `?api_key=…`: shown as `***` (redact_url), and scrubbed where a server echoes it.
        for value in crate::net::text::credential_params(target.url.as_str()) {
            remember(value);
            remember(&percent_decode(value));
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(HttpProbe {
            shown_url: redact_url(&target.url),
            target: target.clone(),
            client,
            request_url,
            headers,
            secrets,
            roots,
            progress,
        })
    }

    async fn attempt(&self, timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + timeout;
        let answer = match self.fetch(deadline, timeout).await {
            Ok(a) => a,
            Err(obs) => return Check::Pending(*obs),
        };
        let Answer { response, url } = answer;
        let status = response.status();
        // After redirects the URL came from a server: scrubbed and escaped like any other
        // server text.
        let final_url = self.shown_location(url.as_str(), SNIPPET);
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .map(|l| self.shown_location(&String::from_utf8_lossy(l.as_bytes()), SHORT * 2));
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            _ => None,
        };
        let accepted = self.target.status.contains(status.as_u16());
        let wants_body = self.target.body.is_some() || self.target.json.is_some();
        let method = &self.target.method;
        if accepted && !wants_body {
            return Check::Ready(format!(
                "HTTP {method} {final_url} answered {}",
                status.as_u16()
            ));
        }
        let (body, truncated) = match tokio::time::timeout_at(deadline, read_body(response)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) | Err(_) if !accepted => (Vec::new(), false),
            Err(_) => {
                return Check::Pending(self.timed_out(timeout, &url, "reading the body"));
            }
            Ok(Err(e)) => return Check::Pending(self.classify(&e, timeout, &url, None)),
        };
        // What may be shown of the body: with every header value scrubbed before it is cut.
        let shown = if self.secrets.is_empty() {
            body.clone()
        } else {
            self.scrub(&String::from_utf8_lossy(&body)).into_bytes()
        };
        if !accepted {
            let mut obs = self.status_observation(status, &shown, truncated, location.as_deref());
            obs.retry_after = retry_after;
            return Check::Pending(obs);
        }
        match judge(&self.target, &body, &shown, truncated, &self.secrets) {
            Ok(extra) => Check::Ready(format!(
                "HTTP {method} {final_url} answered {}{}",
                status.as_u16(),
                self.scrub(&extra)
            )),
            Err(m) => {
                let state = format!("answered {}, but {}", status.as_u16(), self.scrub(&m.state));
                let mut obs = Observation::new(Class::NotReady, state).cause(self.scrub(&m.cause));
                if let Some(fix) = m.fix {
                    obs = obs.fix(fix);
                }
                Check::Pending(obs)
            }
        }
    }

    /// Sends the request and follows redirects (unless `--no-follow-redirects`): the user's
    /// headers go only to the URL's own origin; https → http is refused.
    async fn fetch(
        &self,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Answer, Box<Observation>> {
        let origin = Origin::of(&self.request_url);
        let mut url = self.request_url.clone();
        let mut method = self.target.method.clone();
        let mut same_origin = true;
        let mut hops = 0usize;
        loop {
            let before = self.progress.snapshot();
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .timeout(left);
            if same_origin {
                request = request.headers(self.headers.clone());
            }
            let response = match tokio::time::timeout_at(deadline, request.send()).await {
                Err(_) => {
                    let phase = self.stalled_phase(&url, before);
                    return Err(Box::new(self.timed_out(timeout, &url, phase)));
                }
                Ok(Err(e)) => return Err(Box::new(self.classify(&e, timeout, &url, Some(before)))),
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            let followed = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            if !self.target.follow_redirects || !followed {
                return Ok(Answer { response, url });
            }
            // A Location that is missing or not a URL: the 3xx itself is judged.
            let Some(next) = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return Ok(Answer { response, url });
            };
            hops += 1;
            let shown = self.shown_location(next.as_str(), SHORT * 2);
            if hops > MAX_REDIRECTS {
                return Err(Box::new(
                    Observation::new(Class::Other, "too many redirects")
                        .cause(format!(
                            "{} redirected more than {MAX_REDIRECTS} times; the last to {shown}",
                            self.shown_url
                        ))
                        .fix("check the URL; the server redirects in a loop or more than 10 times"),
                ));
            }
            match (url.scheme(), next.scheme()) {
                ("https", "http") => {
                    return Err(Box::new(
                        Observation::new(Class::Other, "redirect from https to http refused")
                            .cause(format!(
                                "{} answered {} with a redirect to {shown}; kwait does not follow https:// to http:// (the request and its headers would travel unencrypted)",
                                redact_url(&url),
                                status.as_u16()
                            ))
                            .fix("use the http:// URL directly if it is meant, or fix the server's redirect"),
                    ));
                }
                (_, "http" | "https") => {}
                (_, other) => {
                    return Err(Box::new(
                        Observation::new(Class::Other, "redirect to a non-HTTP URL")
                            .cause(format!(
                                "{} redirects to {shown} ({} is not http or https)",
                                redact_url(&url),
                                printable(other, SHORT)
                            ))
                            .fix("check the URL; kwait follows redirects to http:// and https:// only"),
                    ));
                }
            }
            if Origin::of(&next) != origin {
                // Once elsewhere, the credentials stay behind, even if a later hop comes back.
                same_origin = false;
            }
            // As browsers and reqwest: 301/302/303 turn a request other than GET/HEAD into GET.
            if matches!(status.as_u16(), 301..=303)
                && method != Method::GET
                && method != Method::HEAD
            {
                method = Method::GET;
            }
            url = next;
        }
    }

    /// A `Location` (or any URL a server sent) as it may be shown: credentials scrubbed
    /// first (a cut must not leave a prefix of a header value no later scrub recognises),
    /// then password hidden, escaped and cut to `max`.
    fn shown_location(&self, location: &str, max: usize) -> String {
        printable(&crate::net::text::redact_url(&self.scrub(location)), max)
    }

    /// Where a request that timed out stood: for https, whether TLS got under way.
    fn stalled_phase(&self, url: &Url, before: (usize, usize)) -> &'static str {
        let (hellos, keys) = self.progress.snapshot();
        if url.scheme() != "https" {
            "waiting for the answer"
        } else if hellos == before.0 {
            "connecting"
        } else if keys == before.1 {
            "TLS handshake did not finish"
        } else {
            "waiting for the answer"
        }
    }
    fn status_observation(
        &self,
        status: StatusCode,
        body: &[u8],
        truncated: bool,
        location: Option<&str>,
    ) -> Observation {
        let code = status.as_u16();
        let state = match status.canonical_reason() {
            Some(r) => format!("answered {code} {r}"),
            None => format!("answered {code}"),
        };
        let mut cause = format!("the status {code} is not one of {}", self.target.status);
        if let (true, Some(loc)) = (status.is_redirection(), location) {
            cause.push_str(&format!("; it redirects to {loc}"));
        }
        cause.push_str(&format!("; body: {}", snippet(body, truncated)));
        let obs = Observation::new(Class::NotReady, state).cause(cause);
        match code {
            300..=399 if !self.target.follow_redirects => obs.fix(
                "accept the redirect with --status, or drop --no-follow-redirects to follow it",
            ),
            300..=399 => obs.fix("add the redirect status to --status to accept it as it is"),
            401 | 403 => obs.fix("check the credentials sent with --header or --header-file"),
            404 => obs.fix("check the URL path; the server answers, but not at this path"),
            405 => obs.fix("check --method: the server does not take it at this path"),
            429 => obs
                .fix("the server throttles; kwait waits at least as long as its Retry-After asks"),
            500..=599 => obs.fix("the server answers but reports itself not ready; check its logs"),
            _ => obs.fix(format!("if {code} means ready here, add it to --status")),
        }
    }

    fn timed_out(&self, timeout: Duration, url: &Url, phase: &str) -> Observation {
        let within = crate::duration::format(timeout);
        let url = redact_url(url);
        if phase == "TLS handshake did not finish" {
            return handshake_timed_out(&url, timeout, TLS_HINTS);
        }
        Observation::new(Class::Timeout, "attempt timed out")
            .cause(format!(
                "no complete answer from {url} within {within} ({phase})"
            ))
            .fix("the server is slow or stalled: check its logs, or raise --attempt-timeout")
    }

    /// Sorts a request error into a class with its cause. `before` is the TLS progress when
    /// the request started, for a timeout.
    fn classify(
        &self,
        e: &reqwest::Error,
        timeout: Duration,
        url: &Url,
        before: Option<(usize, usize)>,
    ) -> Observation {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let at = format!("{host}:{port}");
        match failure(e) {
            Failure::Dns(d) => d.observation(),
            Failure::Tls(t) => handshake_failed(t, self.roots, host, TLS_HINTS),
            Failure::Closed => reset(&at, &chain(e)),
            Failure::Io(io) => connect_observation(io, &at),
            Failure::Timeout { connecting } => {
                let phase = match before {
                    Some(before) => self.stalled_phase(url, before),
                    None if connecting => "connecting",
                    None => "reading the body",
                };
                self.timed_out(timeout, url, phase)
            }
            Failure::Builder => Observation::new(Class::Other, "request not sent")
                .cause(format!(
                    "the HTTP client cannot send a request to {} ({})",
                    redact_url(url),
                    chain(e)
                ))
                .fix("check the URL (a redirect's Location may be one the client cannot send)"),
            Failure::NotHttp => Observation::new(Class::Other, "not an HTTP answer")
                .cause(format!("{at} did not answer with HTTP ({})", chain(e)))
                .fix("check the port and the scheme (http:// or https://)"),
            Failure::Other => Observation::new(Class::Other, "request failed").cause(chain(e)),
        }
    }

    /// Replaces every header value in `text` with `***`.
    fn scrub(&self, text: &str) -> String {
        scrub_with(&self.secrets, text)
    }
}

/// `text` with every one of `secrets` (longest first) replaced by `***`.
fn scrub_with(secrets: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

fn reset(at: &str, text: &str) -> Observation {
    Observation::new(Class::Reset, "connection reset")
        .cause(format!(
            "{at} closed the connection before answering ({text})"
        ))
        .fix("the server may be starting, restarting or overloaded; check its logs")
}

impl Probe for HttpProbe {
    fn describe(&self) -> String {
        describe(&self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async move { self.attempt(attempt_timeout).await })
    }
}

/// What a wait-http target waits for, e.g. `HTTP GET http://u:***@x/ (status 200-299)`: the
/// URL's password hidden. Built from the target alone (no file is read, no client built), so
/// `--dry-run` can say it where the pod's files (`--ca-cert`) are not mounted.
pub fn describe(target: &HttpTarget) -> String {
    let mut expect = vec![format!("status {}", target.status)];
    match &target.body {
        Some(BodyMatch::Contains(s)) => expect.push(format!("body contains {:?}", short(s))),
        Some(BodyMatch::Regex(r)) => expect.push(format!("body matches /{}/", short(r.as_str()))),
        None => {}
    }
    if let Some(j) = &target.json {
        match &j.equals {
            Some(v) => expect.push(format!("{} == {:?}", j.path, short(v))),
            None => expect.push(format!("{} exists", j.path)),
        }
    }
    format!(
        "HTTP {} {} ({})",
        target.method,
        redact_url(&target.url),
        expect.join(", ")
    )
}

/// Reads at most [`BODY_CAP`] bytes; `true` when the body was longer.
async fn read_body(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = BODY_CAP - body.len();
        if chunk.len() >= room {
            // Full: the rest is never read (a body of exactly BODY_CAP bytes counts as cut).
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// A body or expectation that did not match.
#[derive(Debug, PartialEq)]
pub(crate) struct Mismatch {
    /// Completes "answered 200, but ...".
    pub state: String,
    pub cause: String,
    pub fix: Option<String>,
}

/// Judges an accepted answer's body: `Ok(text to append to the ready line)` or what is wrong.
///
/// `shown` is the body as it may be shown (header values scrubbed), for the snippets;
/// `secrets` are the header values, scrubbed from found values before they are cut.
pub(crate) fn judge(
    target: &HttpTarget,
    body: &[u8],
    shown: &[u8],
    truncated: bool,
    secrets: &[String],
) -> Result<String, Mismatch> {
    let only = if truncated {
        " (judged on its first 64 KiB)"
    } else {
        ""
    };
    match &target.body {
        Some(BodyMatch::Contains(s)) => {
            if String::from_utf8_lossy(body).contains(s.as_str()) {
                return Ok(String::new());
            }
            return Err(Mismatch {
                state: format!("the body does not contain {:?}", short(s)),
                cause: format!(
                    "the body{only} does not contain {s:?}; body: {}",
                    snippet(shown, truncated)
                ),
                fix: None,
            });
        }
        Some(BodyMatch::Regex(r)) => {
            if r.is_match(&String::from_utf8_lossy(body)) {
                return Ok(String::new());
            }
            return Err(Mismatch {
                state: format!("the body does not match /{}/", short(r.as_str())),
                cause: format!(
                    "the body{only} does not match /{}/; body: {}",
                    r.as_str(),
                    snippet(shown, truncated)
                ),
                fix: None,
            });
        }
        None => {}
    }
    let Some(j) = &target.json else {
        return Ok(String::new());
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(Mismatch {
                state: "the body is not JSON".into(),
                cause: format!("{e}{only}; body: {}", snippet(shown, truncated)),
                fix: Some("check the URL: --json-path needs an endpoint that answers JSON".into()),
            });
        }
    };
    // The server chose the body: bound what the query may cost on it before running it.
    let shape = budget::Shape::of(&value);
    let cost = budget::cost(&j.path, &shape);
    if cost > budget::BUDGET {
        return Err(Mismatch {
            state: format!("JSONPath result too large: {} on this body", short(&j.path)),
            cause: format!(
                "evaluating {} on this body ({} values, nested {} deep) could visit or select up to {:.0} values, over kwait's limit of {:.0}, so it was not run; body: {}",
                j.path,
                shape.nodes,
                shape.depth,
                cost.min(1e18),
                budget::BUDGET,
                snippet(shown, truncated)
            ),
            fix: Some(
                "use a path without nested descendant segments (..) or wildcards over the whole body, e.g. $.status or $.checks[*].ok".into(),
            ),
        });
    }
    let nodes: Vec<&Value> = j.query.query(&value).all();
    if nodes.is_empty() {
        return Err(Mismatch {
            state: format!("{} matched nothing", j.path),
            cause: format!(
                "{} selects nothing in the JSON body; body: {}",
                j.path,
                snippet(shown, truncated)
            ),
            fix: Some(
                "check the path against the body above (RFC 9535 syntax, e.g. $.status)".into(),
            ),
        });
    }
    // Scrubbed before `short`/`printable` cut it: a header value echoed across the cut would
    // otherwise leave a prefix no later scrub recognises.
    let found = found_text(&nodes, secrets);
    match &j.equals {
        None => Ok(format!(", {} is {}", j.path, short(&found))),
        Some(want) if all_equal(&nodes, want) => Ok(format!(", {} == {:?}", j.path, short(want))),
        Some(want) => Err(Mismatch {
            state: format!("{} is {}", j.path, short(&found)),
            cause: format!(
                "expected {} to be {want:?}, found {}; body: {}",
                j.path,
                printable(&found, SNIPPET),
                snippet(shown, truncated)
            ),
            fix: None,
        }),
    }
}

/// The found value (one node) or values (a JSON array of them), compact, with `secrets`
/// scrubbed, cut after a few hundred bytes: nodes are serialized in place (never cloned), and
/// serializing stops there (plus the longest secret, so one that crosses the cut is whole
/// when it is scrubbed).
pub(crate) fn found_text(nodes: &[&Value], secrets: &[String]) -> String {
    /// Keeps the first `.1` bytes written, then refuses more.
    struct Capped(Vec<u8>, usize);
    const MAX: usize = 4 * SNIPPET;
    impl io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = self.1.saturating_sub(self.0.len());
            if room == 0 {
                return Err(io::Error::other("enough"));
            }
            let n = buf.len().min(room);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let slack = secrets.iter().map(String::len).max().unwrap_or(0);
    let mut out = Capped(Vec::new(), MAX + slack);
    let complete = (|| -> io::Result<()> {
        use io::Write as _;
        if let [one] = nodes {
            return serde_json::to_writer(&mut out, one).map_err(io::Error::other);
        }
        out.write_all(b"[")?;
        for (i, v) in nodes.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut out, v).map_err(io::Error::other)?;
        }
        out.write_all(b"]")
    })()
    .is_ok();
    let mut text = scrub_with(secrets, &String::from_utf8_lossy(&out.0));
    let mut complete = complete;
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        complete = false;
    }
    if !complete {
        text.push('…');
    }
    text
}

/// `--equals` against every found value (the expected text is parsed once).
pub(crate) fn all_equal(nodes: &[&Value], want: &str) -> bool {
    let parsed = serde_json::from_str::<Value>(want).ok();
    nodes
        .iter()
        .all(|v| equals_parsed(v, want, parsed.as_ref()))
}

/// `--equals`: strings compare unquoted; other values compare as JSON (`true`, `3`, `null`).
#[cfg(test)]
pub(crate) fn value_equals(v: &Value, want: &str) -> bool {
    equals_parsed(v, want, serde_json::from_str::<Value>(want).ok().as_ref())
}

fn equals_parsed(v: &Value, want: &str, parsed: Option<&Value>) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => match parsed {
            Some(Value::Number(w)) => {
                n == w || matches!((n.as_f64(), w.as_f64()), (Some(a), Some(b)) if a == b)
            }
            _ => false,
        },
        other => parsed.is_some_and(|w| w == other),
    }
}

/// The first [`SNIPPET`] bytes of a body as one printable line, quoted.
pub(crate) fn snippet(body: &[u8], truncated: bool) -> String {
    if body.is_empty() {
        return "(empty)".into();
    }
    let cut = &body[..body.len().min(SNIPPET)];
    let more = truncated || body.len() > SNIPPET;
    let text = printable(&String::from_utf8_lossy(cut), SNIPPET);
    format!(
        "\"{}\"{}",
        text.trim_end_matches('…'),
        if more { "…" } else { "" }
    )
}

fn short(s: &str) -> String {
    printable(s, SHORT)
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (capped at
/// [`MAX_RETRY_AFTER`](crate::backoff::MAX_RETRY_AFTER)).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => http_date(v)?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(d.min(crate::backoff::MAX_RETRY_AFTER))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 says senders use.
fn http_date(s: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| *x == month)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = hms[..] else {
        return None;
    };
    crate::duration::civil_time(y, m, d, h, mi, se)
}

/// The URL as it may be shown: its password and credential query values as `***`
/// ([`crate::net::text::redact_url`]).
pub(crate) fn redact_url(url: &Url) -> String {
    crate::net::text::redact_url(url.as_str())
}

fn chain(e: &(dyn StdError + 'static)) -> String {
    printable(&crate::net::text::chain(e), 400)
}

/// How far the TLS handshakes of this probe got: counts of ClientHellos built (the TCP
/// connection is up) and of handshakes that reached their keys (the server answered in TLS).
/// reqwest reports a timeout without its phase; comparing these before and after a request tells
/// "the server accepted the connection but never spoke TLS" from "no answer to the request".
#[derive(Debug, Default)]
struct Progress {
    hellos: AtomicUsize,
    keys: AtomicUsize,
}

impl Progress {
    fn snapshot(&self) -> (usize, usize) {
        (
            self.hellos.load(Ordering::Relaxed),
            self.keys.load(Ordering::Relaxed),
        )
    }
}

/// rustls calls a key log with each secret of a handshake, if asked to. This one asks only for
/// the labels that mark the end of the key exchange (TLS 1.3: the application traffic secret;
/// TLS 1.2: the master secret), counts them, and never looks at or keeps the secret.
impl rustls::KeyLog for Progress {
    fn will_log(&self, label: &str) -> bool {
        matches!(label, "CLIENT_TRAFFIC_SECRET_0" | "CLIENT_RANDOM")
    }

    fn log(&self, _label: &str, _client_random: &[u8], _secret: &[u8]) {
        self.keys.fetch_add(1, Ordering::Relaxed);
    }
}

/// The session cache, with a count of ClientHellos: rustls asks the cache for a key-exchange
/// hint when it builds each hello, which is after the TCP connection is made.
#[derive(Debug)]
struct HelloWatch {
    progress: Arc<Progress>,
    inner: ClientSessionMemoryCache,
}

impl ClientSessionStore for HelloWatch {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.progress.hellos.fetch_add(1, Ordering::Relaxed);
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// A URL's origin (scheme, host, port): credentials go only where the user sent them.
#[derive(Debug, PartialEq, Eq)]
struct Origin(String, Option<String>, Option<u16>);

impl Origin {
    fn of(url: &Url) -> Origin {
        Origin(
            url.scheme().to_ascii_lowercase(),
            url.host_str().map(str::to_ascii_lowercase),
            url.port_or_known_default(),
        )
    }
}

/// `%XX` escapes of a URL's user or password decoded (as reqwest does before it sends them);
/// a result that is not UTF-8 is taken lossily.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Target};
    use testkit::netserve::{HttpServer, Reply, TestCa};

    fn target(args: &[&str]) -> HttpTarget {
        let mut argv = vec!["wait-http"];
        argv.extend_from_slice(args);
        match Plan::from_words(&argv).unwrap().targets.remove(0).target {
            Target::Http(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    fn check(t: &HttpTarget) -> Check {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut p = HttpProbe::new(t).unwrap();
        rt.block_on(p.check(Duration::from_secs(2)))
    }

    fn j(t: &HttpTarget, body: &[u8]) -> Result<String, Mismatch> {
        judge(t, body, body, false, &[])
    }

    fn pending(c: Check) -> Observation {
        match c {
            Check::Pending(o) => o,
            other => panic!("expected pending, got {other:?}"),
        }
    }

    #[test]
    fn describe_names_the_expectations_and_hides_passwords() {
        let t = target(&[
            "http://u:pw@litellm:4000/health/readiness",
            "--json-path",
            "$.status",
            "--equals",
            "healthy",
        ]);
        let p = HttpProbe::new(&t).unwrap();
        assert_eq!(
            p.describe(),
            r#"HTTP GET http://u:***@litellm:4000/health/readiness (status 200-299, $.status == "healthy")"#
        );
        let t = target(&["https://x/", "--status", "200,204", "--method", "head"]);
        let p = HttpProbe::new(&t).unwrap();
        assert_eq!(p.describe(), "HTTP HEAD https://x/ (status 200,204)");
        let t = target(&["http://x/", "--body-regex", "^ok$"]);
        let p = HttpProbe::new(&t).unwrap();
        assert_eq!(
            p.describe(),
            "HTTP GET http://x/ (status 200-299, body matches /^ok$/)"
        );
    }

    #[test]
    fn json_judgement() {
        let t = target(&[
            "http://x/",
            "--json-path",
            "$.status",
            "--equals",
            "healthy",
        ]);
        assert!(j(&t, br#"{"status":"healthy","db":"Not connected"}"#).is_ok());
        let m = j(&t, br#"{"status":"starting"}"#).unwrap_err();
        assert_eq!(m.state, r#"$.status is "starting""#);
        let m = j(&t, br#"{"other":1}"#).unwrap_err();
        assert_eq!(m.state, "$.status matched nothing");
        let m = j(&t, b"<html>oops</html>").unwrap_err();
        assert_eq!(m.state, "the body is not JSON");
        assert!(m.cause.contains("<html>oops</html>"), "{}", m.cause);

        let t = target(&[
            "http://x/",
            "--json-path",
            "$.checks[*].ok",
            "--equals",
            "true",
        ]);
        assert!(j(&t, br#"{"checks":[{"ok":true},{"ok":true}]}"#).is_ok());
        let m = j(&t, br#"{"checks":[{"ok":true},{"ok":false}]}"#).unwrap_err();
        assert_eq!(m.state, "$.checks[*].ok is [true,false]");

        let t = target(&["http://x/", "--json-path", "$.items[?@.name == 'db']"]);
        assert!(j(&t, br#"{"items":[{"name":"db"}]}"#).is_ok());
        assert!(j(&t, br#"{"items":[{"name":"web"}]}"#).is_err());

        assert!(value_equals(&serde_json::json!(3), "3.0"));
        assert!(value_equals(&serde_json::json!(null), "null"));
        assert!(value_equals(&serde_json::json!("3"), "3"));
        assert!(!value_equals(&serde_json::json!(3), "\"3\""));
    }

    #[test]
    fn body_judgement() {
        let t = target(&["http://x/", "--body-contains", "READY"]);
        assert!(j(&t, b"all READY").is_ok());
        assert_eq!(
            j(&t, b"starting").unwrap_err().state,
            r#"the body does not contain "READY""#
        );
        let t = target(&["http://x/", "--body-regex", "^up [0-9]+$"]);
        assert!(j(&t, b"up 3").is_ok());
        assert_eq!(
            j(&t, b"down").unwrap_err().state,
            "the body does not match /^up [0-9]+$/"
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("99999"), Some(Duration::from_secs(3600)));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn a_retry_after_date_in_an_absurd_year_is_ignored_not_an_overflow() {
        for year in ["99999999999999999", "-5", "10000"] {
            let v = format!("Sun, 06 Nov {year} 08:49:37 GMT");
            assert_eq!(http_date(&v), None, "{v}");
            assert_eq!(parse_retry_after(&v), None, "{v}");
        }
        assert_eq!(
            http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(253_402_300_799))
        );
    }

    #[test]
    fn snippets_are_printable_and_short() {
        assert_eq!(snippet(b"", false), "(empty)");
        assert_eq!(
            snippet(b"a\nb\r\n\tc\x1b[31m", false),
            "\"a b c\\u{1b}[31m\""
        );
        let long = vec![b'x'; 1000];
        let s = snippet(&long, false);
        assert_eq!(s, format!("\"{}\"…", "x".repeat(200)));
        assert_eq!(snippet(&[0xff, b'a'], false), "\"\u{fffd}a\"");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn a_503_then_200_is_pending_then_ready_with_retry_after() {
        let s = HttpServer::start(vec![
            Reply::text(503, "warming up\n").header("retry-after", "3"),
            Reply::status(200),
        ]);
        let t = target(&[&s.url("/ready")]);
        let o = pending(check(&t));
        assert_eq!(o.class, Class::NotReady);
        assert_eq!(o.state, "answered 503 Service Unavailable");
        assert!(
            o.cause
                .as_deref()
                .unwrap()
                .contains(r#"body: "warming up""#),
            "{:?}",
            o.cause
        );
        assert_eq!(o.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            check(&t),
            Check::Ready(format!("HTTP GET {} answered 200", s.url("/ready")))
        );
    }

    #[test]
    fn headers_are_sent_and_scrubbed_from_echoes() {
        let s = HttpServer::start(vec![Reply::text(401, "bad token: s3cr3t-token")]);
        let t = target(&[
            &s.url("/"),
            "--header",
            "Authorization: Bearer s3cr3t-token",
        ]);
        let o = pending(check(&t));
        assert_eq!(
            s.requests()[0].header("authorization"),
            Some("Bearer s3cr3t-token")
        );
        assert!(!format!("{o:?}").contains("s3cr3t"), "{o:?}");
        assert!(!format!("{:?}", HttpProbe::new(&t).unwrap()).contains("s3cr3t"));
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }

    #[test]
    fn redirects_are_followed_or_judged() {
        let s = HttpServer::start(vec![
            Reply::status(302).header("location", "/there"),
            Reply::status(200),
        ]);
        let t = target(&[&s.url("/here")]);
        assert_eq!(
            check(&t),
            Check::Ready(format!("HTTP GET {} answered 200", s.url("/there")))
        );
        s.set_replies(vec![Reply::status(302).header("location", "/there")]);
        let t = target(&[&s.url("/here"), "--no-follow-redirects"]);
        let o = pending(check(&t));
        assert_eq!(o.state, "answered 302 Found");
        assert!(o.cause.unwrap().contains("redirects to /there"));
    }

    #[test]
    fn refused_stalled_and_closed_connections_have_their_classes() {
        let port = testkit::netserve::free_port();
        let o = pending(check(&target(&[&format!("http://127.0.0.1:{port}/")])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Unreachable, "connection refused")
        );

        let s = HttpServer::start(vec![Reply::stall()]);
        let o = pending(check(&target(&[&s.url("/")])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Timeout, "attempt timed out")
        );
        assert!(o.cause.unwrap().contains("within 2s"));

        let s = HttpServer::start(vec![Reply::close()]);
        let o = pending(check(&target(&[&s.url("/")])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Reset, "connection reset"),
            "{o:?}"
        );

        let ssh = testkit::netserve::TcpServer::start_speaking(b"SSH-2.0-OpenSSH_9.6\r\n");
        let o = pending(check(&target(&[&format!(
            "http://127.0.0.1:{}/",
            ssh.port()
        )])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Other, "not an HTTP answer"),
            "{o:?}"
        );

        let o = pending(check(&target(&["http://kwait-test.invalid/"])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Dns, "DNS: name not found")
        );
    }

    #[test]
    fn tls_with_and_without_the_ca() {
        let ca = TestCa::new("kwait test CA");
        let dir = std::env::temp_dir().join(format!("kwait-http-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let ca_arg = ca_file.to_str().unwrap();

        let s = HttpServer::start_tls(vec![Reply::status(200)], &ca.issue(&["localhost"]));
        assert!(matches!(
            check(&target(&[&s.url("/"), "--ca-cert", ca_arg])),
            Check::Ready(_)
        ));
        let o = pending(check(&target(&[&s.url("/")])));
        assert_eq!(o.class, Class::Tls, "{o:?}");
        assert!(o.state.starts_with("TLS: "), "{o:?}");
        assert!(matches!(
            check(&target(&[&s.url("/"), "--insecure-skip-tls-verify"])),
            Check::Ready(_)
        ));
        let url_by_ip = format!("https://127.0.0.1:{}/", s.addr().port());
        let o = pending(check(&target(&[&url_by_ip, "--ca-cert", ca_arg])));
        assert_eq!(o.state, "TLS: certificate name mismatch", "{o:?}");

        let s = HttpServer::start_tls(vec![Reply::status(200)], &ca.issue_expired(&["localhost"]));
        let o = pending(check(&target(&[&s.url("/"), "--ca-cert", ca_arg])));
        assert_eq!(o.state, "TLS: certificate expired", "{o:?}");

        let plain = HttpServer::start(vec![Reply::status(200)]);
        let o = pending(check(&target(&[
            &format!("https://localhost:{}/", plain.addr().port()),
            "--ca-cert",
            ca_arg,
        ])));
        assert_eq!(o.class, Class::Tls, "{o:?}");

        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let e = HttpProbe::new(&target(&[
            "https://x/",
            "--ca-cert",
            garbage.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(e.to_string().starts_with("cannot use --ca-cert"), "{e}");
        let e = HttpProbe::new(&target(&["https://x/", "--ca-cert", "/nonexistent/ca.pem"]))
            .unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn url_userinfo_is_decoded_and_origins_compare_scheme_host_and_port() {
        assert_eq!(percent_decode("p%40ss%3Aw%zz%4"), "p@ss:w%zz%4");
        let o = |u: &str| Origin::of(&Url::parse(u).unwrap());
        assert_eq!(o("http://A.example/x"), o("http://a.example:80/y?q"));
        assert_ne!(o("http://a.example/"), o("https://a.example/"));
        assert_ne!(o("http://a.example/"), o("http://a.example:8080/"));
        assert_ne!(o("http://a.example/"), o("http://b.example/"));
    }

    #[test]
    fn url_credentials_become_a_basic_header_and_secrets() {
        let t = target(&["http://us%65r:p%40ss-w0rd-1@x/"]);
        let p = HttpProbe::new(&t).unwrap();
        assert_eq!(p.request_url.as_str(), "http://x/");
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("user:p@ss-w0rd-1")
        );
        assert_eq!(p.headers[http::header::AUTHORIZATION], want.as_str());
        assert_eq!(
            p.scrub(&format!("{want} p@ss-w0rd-1 p%40ss-w0rd-1")),
            "Basic *** *** ***"
        );
    }

    const ECHOED: &str = "tok-0123456789abcdefghij";

    fn echo_target(extra: &[&str]) -> HttpTarget {
        let header = format!("Authorization: Bearer {ECHOED}");
        let mut args = vec!["http://x/", "--header", header.as_str()];
        args.extend_from_slice(extra);
        target(&args)
    }

    /// No prefix of the secret (4 bytes or more) is left in `text`.
    fn no_prefix_of_the_secret(text: &str) {
        for n in 4..=ECHOED.len() {
            assert!(!text.contains(&ECHOED[..n]), "{n} bytes of it in {text}");
        }
    }

    #[test]
    fn a_header_secret_echoed_across_the_cut_of_a_found_value_is_scrubbed_first() {
        let t = echo_target(&["--json-path", "$.v"]);
        let p = HttpProbe::new(&t).unwrap();
        // The short form of the value (60 chars): the token starts just before the cut.
        let body = format!(r#"{{"v":"{}{ECHOED}"}}"#, "x".repeat(50));
        // `shown` is the body scrubbed whole, as `attempt` passes it.
        let shown = p.scrub(&body);
        let ok = judge(&t, body.as_bytes(), shown.as_bytes(), false, &p.secrets).unwrap();
        assert!(ok.contains("***") || !ok.contains("tok-"), "{ok}");
        no_prefix_of_the_secret(&ok);
        // --equals mismatch: the state (60 chars) and the cause (200 chars).
        let t = echo_target(&["--json-path", "$.v", "--equals", "y"]);
        for pad in [50, 190] {
            let body = format!(r#"{{"v":"{}{ECHOED}"}}"#, "x".repeat(pad));
            let shown = p.scrub(&body);
            let m = judge(&t, body.as_bytes(), shown.as_bytes(), false, &p.secrets).unwrap_err();
            no_prefix_of_the_secret(&m.state);
            no_prefix_of_the_secret(&m.cause);
        }
        // The serialization cap (800 bytes) itself.
        let v = Value::String(format!("{}{ECHOED}", "x".repeat(4 * SNIPPET - 10)));
        let text = found_text(&[&v], &p.secrets);
        no_prefix_of_the_secret(&text);
        assert!(
            text.len() <= 4 * SNIPPET + 4 && text.contains("***"),
            "{text}"
        );
    }

    #[test]
    fn a_header_secret_echoed_across_the_cut_of_a_location_is_scrubbed_first() {
        let p = HttpProbe::new(&echo_target(&[])).unwrap();
        for pad in [100, 110, 115] {
            let location = format!("http://x/{}?t={ECHOED}", "a".repeat(pad));
            let shown = p.shown_location(&location, SHORT * 2);
            no_prefix_of_the_secret(&shown);
        }
    }

    #[test]
    fn found_values_are_serialized_in_place_and_cut() {
        let big = Value::Array((0..100_000).map(Value::from).collect());
        let many: Vec<&Value> = std::iter::repeat_n(&big, 1000).collect();
        let text = found_text(&many, &[]);
        assert!(text.len() <= 4 * SNIPPET + 4, "{}", text.len());
        assert!(
            text.starts_with("[[0,1,2,") && text.ends_with('…'),
            "{text}"
        );
        assert_eq!(
            found_text(&[&serde_json::json!({"a": "b"})], &[]),
            r#"{"a":"b"}"#
        );
        let (one, two) = (serde_json::json!(1), serde_json::json!("x"));
        assert_eq!(found_text(&[&one, &two], &[]), r#"[1,"x"]"#);
    }

    #[test]
    fn a_redirect_loop_ends_after_ten_hops_and_303_turns_post_into_get() {
        let s = HttpServer::start(vec![Reply::redirect(302, "/loop")]);
        let o = pending(check(&target(&[&s.url("/")])));
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::Other, "too many redirects")
        );
        assert!(o.cause.unwrap().contains("/loop"));
        assert_eq!(s.hits(), 1 + MAX_REDIRECTS);

        let s = HttpServer::start(vec![Reply::redirect(303, "/done"), Reply::status(200)]);
        let t = target(&[&s.url("/form"), "--method", "POST"]);
        assert!(matches!(check(&t), Check::Ready(_)));
        let methods: Vec<String> = s.requests().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["POST", "GET"]);

        let s = HttpServer::start(vec![Reply::redirect(307, "/again"), Reply::status(200)]);
        let t = target(&[&s.url("/form"), "--method", "POST"]);
        assert!(matches!(check(&t), Check::Ready(_)));
        let methods: Vec<String> = s.requests().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["POST", "POST"]);
    }

    #[test]
    fn huge_bodies_are_capped() {
        let s = HttpServer::start(vec![Reply::text(200, &"y".repeat(10 * BODY_CAP))]);
        let t = target(&[&s.url("/"), "--body-contains", "READY"]);
        let o = pending(check(&t));
        assert!(o.cause.unwrap().contains("first 64 KiB"));
    }
}
