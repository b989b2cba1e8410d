//! Watches used only as wake-up signals: one per resource and selector, started after the
//! resource's first GET or LIST, each poking the waiter's [`Wake`] when something changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::core::params::WatchParams;
use kube::core::{Request, WatchEvent};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::{Conn, Kube, Resource, Selector};
use crate::backoff::Backoff;
use crate::net::text::lock;

/// Wake-up signals from a watch: `notify` fires when the watched object changed; `healthy`
/// says whether the watch is currently established.
#[derive(Debug, Clone)]
pub struct Wake {
    /// Poked on every watch event (coalesced: many events before the next check make one check).
    pub notify: Arc<Notify>,
    /// `true` while every watch of this target is established and alive (an event or a
    /// bookmark within the idle timeout).
    pub healthy: watch::Receiver<bool>,
    /// When kwait last sent the API server a request and last heard from it (any request of
    /// the connection, any watch line).
    pub talk: Arc<Talk>,
}

/// When kwait last sent the API server a request (credentials in hand, on its way) and last
/// heard from it: an answer's headers, or a whole watch line (an event or a bookmark). An open
/// watch that sends nothing is not heard from: a frozen API server sends nothing either.
#[derive(Debug, Default)]
pub struct Talk {
    sent: Mutex<Option<Instant>>,
    heard: Mutex<Option<Instant>>,
}

impl Talk {
    /// When a request was last sent.
    pub fn sent(&self) -> Option<Instant> {
        *lock(&self.sent)
    }

    /// When the API server was last heard from.
    pub fn heard(&self) -> Option<Instant> {
        *lock(&self.heard)
    }

    /// Notes a request sent now.
    pub fn note_sent(&self) {
        *lock(&self.sent) = Some(Instant::now());
    }

    /// Notes that the API server was heard from now.
    pub fn note_heard(&self) {
        *lock(&self.heard) = Some(Instant::now());
    }
}

impl Kube {
    /// The wake-up signals of this client's watches, started now or later (a probe that learns
    /// its resource type only when it runs, through discovery, starts its watch then). Until a
    /// watch is up the target counts as not covered, and the waiter polls.
    pub fn wake(&self) -> Wake {
        Wake {
            notify: self.watches.notify.clone(),
            healthy: self.watches.healthy.subscribe(),
            talk: self.conn.talk.clone(),
        }
    }

    /// A notifier poked on every change any watch of this client sees, beside the waiter's own
    /// (one stream serves both: `wait-service NAME` and `wait-http ... --service NAME`).
    pub fn subscribe(&self) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        lock(&self.watches.subscribers).push(n.clone());
        n
    }

    /// Starts (once per resource and selector) a watch that pokes the returned [`Wake`] on
    /// every change. The same `Wake` serves every watch this client starts: one connected
    /// client per target (its clones share the watch set), because a poke wakes one waiter
    /// and the health is that of the target's own watches.
    pub fn watch(
        &self,
        res: &Resource,
        selector: Selector,
        interval: Duration,
        max: Duration,
    ) -> Wake {
        let set = &self.watches;
        let mut started = lock(&set.started);
        if !started.iter().any(|(r, s)| r == res && *s == selector) {
            started.push((*res, selector.clone()));
            if let Selector::Name(n) = &selector {
                lock(&set.uncovered).remove(&format!("{}/{n}", res.path(&self.namespace)));
            }
            let slot = {
                let mut health = lock(&set.health);
                health.push(false);
                health.len() - 1
            };
            set.healthy.send_replace(false);
            let task = WatchTask {
                conn: self.conn.clone(),
                path: res.path(&self.namespace),
                selector,
                set: set.clone(),
                slot,
                backoff: Backoff::new(interval, max),
                refused_delay: max,
                idle: idle_timeout(),
            };
            tokio::spawn(task.run());
        }
        Wake {
            notify: set.notify.clone(),
            healthy: set.healthy.subscribe(),
            talk: self.conn.talk.clone(),
        }
    }
}

/// The longest watch line accepted. A watch event carries one object, and the API server stores
/// at most ~1.5 MiB per object (etcd's request limit) and refuses requests over 3 MiB; 3 MiB
/// plus what JSON escaping may add is far more than any real event. A longer line means the
/// stream is not a watch (a proxy's page, garbage, a hostile server): it is dropped and the
/// watch re-opened with backoff, so a stream without newlines costs bounded memory and time.
pub const MAX_LINE: usize = 3 * 1024 * 1024 + 64 * 1024;

/// How long a watch may stay silent (no event, no bookmark) before it counts as broken. The
/// watch asks for bookmarks, which real API servers send about once a minute; twice that plus
/// a margin notices a half-open connection (a load-balancer failover) within 2.5 minutes,
/// instead of the ~12 minutes TCP keep-alive would take.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(150);

/// Test hook only: overrides [`IDLE_TIMEOUT`] (a duration such as `2s`), so that the tests of
/// a half-open watch do not wait minutes. Not documented for users.
const IDLE_TIMEOUT_ENV: &str = "KWAIT_TEST_WATCH_IDLE";

/// The lifetime a watch asks the server for (`timeoutSeconds`); the server ends the stream then
/// and the watch is renewed from where it stopped. Under the API server's own
/// `--min-request-timeout` default (1800 s), and short enough that a renewal refreshes a wait
/// every five minutes.
const LIFETIME_SECONDS: u64 = 290;

/// How much longer than [`LIFETIME_SECONDS`] a stream may last before kwait ends it itself (a
/// server or proxy that ignores `timeoutSeconds`).
const LIFETIME_SLACK: Duration = Duration::from_secs(30);

/// How long opening a watch may take until its response headers arrive (bounded further by the
/// idle timeout): a server that accepts and never answers must not hold the watch open-ended.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest resourceVersion a watch resumes from. Real ones are a few digits (etcd's
/// revision); a longer one (a hostile or broken bookmark of 64 KiB) would make the renewal's
/// URI too long to build: the watch starts over from the most recent state instead.
const MAX_RESOURCE_VERSION: usize = 1024;

/// A stream that ends sooner than this did not prove the watch works: reconnect with backoff.
const SHORT_LIVED: Duration = Duration::from_secs(5);

/// Every watch of one client (one target): one notifier; each watch's health, and whether all
/// are healthy. The health is per watch: a refused or broken one is marked broken alone, and
/// the waiter sees the watches of its own target only.
#[derive(Debug)]
pub(super) struct WatchSet {
    notify: Arc<Notify>,
    /// Others poked on every change too ([`Kube::subscribe`]): a Service's endpoints wake both
    /// `wait-service` and the network targets that name it with `--service`.
    subscribers: Mutex<Vec<Arc<Notify>>>,
    healthy: watch::Sender<bool>,
    health: Mutex<Vec<bool>>,
    started: Mutex<Vec<(Resource, Selector)>>,
    /// Objects a check GETs (path/name) that no watch of this set covers. While there is one,
    /// the target is not covered ([`Wake::healthy`] is false) and the waiter polls: a change
    /// of that object would poke nobody.
    uncovered: Mutex<HashSet<String>>,
    /// The resourceVersion of each object as the last GET or LIST read it, by path and name:
    /// a watch event for a version already read (the watch's initial ADDED) pokes nobody, and a
    /// watch on that name starts from that version.
    read: Mutex<HashMap<String, String>>,
    /// The resourceVersion of the last LIST of each path: a label-selector watch starts there.
    listed: Mutex<HashMap<String, String>>,
    /// The resource paths read at least once. A watch opens only after its resource's first
    /// read (GET then watch, as informers list then watch), so that its initial ADDED event
    /// cannot overtake the GET's answer and cost a second, identical GET.
    first_reads: watch::Sender<HashSet<String>>,
}

impl Default for WatchSet {
    fn default() -> Self {
        WatchSet {
            notify: Arc::new(Notify::new()),
            subscribers: Mutex::new(Vec::new()),
            healthy: watch::Sender::new(false),
            health: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            uncovered: Mutex::new(HashSet::new()),
            read: Mutex::new(HashMap::new()),
            listed: Mutex::new(HashMap::new()),
            first_reads: watch::Sender::new(HashSet::new()),
        }
    }
}

impl WatchSet {
    /// Pokes the waiter and every subscriber.
    fn poke(&self) {
        self.notify.notify_one();
        for s in lock(&self.subscribers).iter() {
            s.notify_one();
        }
    }

    /// Lets the watch on this resource open (its first read is done, whatever the outcome).
    pub(super) fn first_read_done(&self, res: &Resource, namespace: &str) {
        let path = res.path(namespace);
        self.first_reads
            .send_if_modified(|paths| paths.insert(path));
    }

    /// Notes the version of an object a GET or LIST returned.
    pub(super) fn read(&self, res: &Resource, namespace: &str, obj: &Value) {
        let meta = |f: &str| {
            obj.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
        };
        if let (Some(name), Some(rv)) = (meta("name"), meta("resourceVersion")) {
            lock(&self.read).insert(format!("{}/{name}", res.path(namespace)), rv.to_string());
        }
    }

    /// Notes that a check GETs `name`: unless a watch on that name was started, the target is
    /// not covered by its watches until one is.
    pub(super) fn reading(&self, res: &Resource, namespace: &str, name: &str) {
        let covered = lock(&self.started)
            .iter()
            .any(|(r, s)| r == res && matches!(s, Selector::Name(n) if n == name));
        if !covered && lock(&self.uncovered).insert(format!("{}/{name}", res.path(namespace))) {
            self.update_health();
        }
    }

    /// Notes the version of a LIST answer (its `metadata.resourceVersion`).
    pub(super) fn listed(&self, res: &Resource, namespace: &str, list: &Value) {
        if let Some(rv) = list
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            lock(&self.listed).insert(res.path(namespace), rv.to_string());
        }
    }

    /// Where a watch starts: the version its first read saw, so that a change between the read
    /// and the watch (a delete above all) is delivered. A name whose GET found nothing (a 404
    /// carries no version) or failed, and a LIST that failed, start from "" — the API server's
    /// most recent state, read from etcd (not its cache, as "0" would be), with a synthetic
    /// ADDED for an object that exists by then: what was created after the GET is still seen.
    fn start_version(&self, path: &str, selector: &Selector) -> String {
        let found = match selector {
            Selector::Name(n) => lock(&self.read).get(&format!("{path}/{n}")).cloned(),
            Selector::Labels(_) => lock(&self.listed).get(path).cloned(),
        };
        found.unwrap_or_default()
    }

    /// Whether a watch event brings a version nobody has read yet.
    fn is_news(&self, path: &str, meta: &MetaFields) -> bool {
        match (&meta.name, &meta.resource_version) {
            (Some(name), Some(rv)) => lock(&self.read).get(&format!("{path}/{name}")) != Some(rv),
            _ => true,
        }
    }

    fn set_health(&self, slot: usize, ok: bool) {
        if let Some(s) = lock(&self.health).get_mut(slot) {
            *s = ok;
        }
        self.update_health();
    }

    /// Healthy: every watch of this target established and alive, and every object its checks
    /// read covered by one of them.
    fn update_health(&self) {
        let all = lock(&self.health).iter().all(|s| *s) && lock(&self.uncovered).is_empty();
        self.healthy
            .send_if_modified(|v| std::mem::replace(v, all) != all);
    }
}

/// The part of any object a watch needs.
#[derive(Debug, Clone, Deserialize)]
struct Meta {
    #[serde(default)]
    metadata: MetaFields,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct MetaFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// Why a watch stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server ended it (its `timeoutSeconds`, a closed connection), or it outlived the
    /// lifetime asked for: renew it from the last version.
    Closed,
    /// An `ERROR` event with 410 Gone: the version is too old; start over from the most recent.
    Gone,
    /// Nothing arrived within the idle timeout: half-open, or a server that sends nothing.
    Idle,
    /// A line longer than [`MAX_LINE`], a line that is not a watch event, or another `ERROR`.
    Broken,
}

/// The unfinished line of a watch stream. Each byte is scanned for a newline once (not the
/// whole buffer again on every chunk), and the unfinished line is capped at [`MAX_LINE`].
#[derive(Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// How many bytes at the start of `buf` are known to hold no newline.
    scanned: usize,
}

impl LineBuf {
    /// Appends `chunk` and hands each whole line to `line`, stopping at the first `Some` it
    /// returns; `Some(End::Broken)` when the unfinished line grows over [`MAX_LINE`].
    fn push(&mut self, chunk: &[u8], mut line: impl FnMut(&[u8]) -> Option<End>) -> Option<End> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(i) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
            let end = self.scanned + i;
            if let Some(why) = line(&self.buf[start..end]) {
                return Some(why);
            }
            start = end + 1;
            self.scanned = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        (self.buf.len() > MAX_LINE).then_some(End::Broken)
    }
}

struct WatchTask {
    conn: Arc<Conn>,
    path: String,
    selector: Selector,
    set: Arc<WatchSet>,
    slot: usize,
    backoff: Backoff,
    refused_delay: Duration,
    idle: Duration,
}

/// [`IDLE_TIMEOUT`], or the test override.
fn idle_timeout() -> Duration {
    std::env::var(IDLE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| crate::duration::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(IDLE_TIMEOUT)
}

/// `Retry-After` in seconds, as the API server sends it with a 429.
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl WatchTask {
    /// Watches for ever (the process ends with the wait): starts from the version the first
    /// read saw, renews after the server's timeout from the last version, starts over from the
    /// most recent state after 410 Gone, and backs off while the watch is refused (e.g.
    /// forbidden: polling alone carries the wait then) or broken.
    async fn run(mut self) {
        let mut first_reads = self.set.first_reads.subscribe();
        if first_reads
            .wait_for(|p| p.contains(&self.path))
            .await
            .is_err()
        {
            return;
        }
        let mut rv = self.set.start_version(&self.path, &self.selector);
        // The last stream went silent or sent garbage: the next one counts as healthy only
        // once it has delivered a line (an event or a bookmark), so that a server whose every
        // watch is half-open leaves the waiter polling instead of waiting out idle timeouts.
        let mut suspect = false;
        loop {
            let mut wp = WatchParams::default().timeout(LIFETIME_SECONDS as u32);
            wp.bookmarks = true;
            let wp = match &self.selector {
                Selector::Name(n) => wp.fields(&format!("metadata.name={n}")),
                Selector::Labels(l) => wp.labels(l),
            };
            // Not established until the new stream's headers arrive: meanwhile the waiter polls
            // (a renewal that hangs must not keep the last stream's health).
            self.set.set_health(self.slot, false);
            if rv.len() > MAX_RESOURCE_VERSION {
                rv = String::new();
            }
            let req = match Request::new(&self.path).watch(&wp, &rv) {
                Ok(req) => req,
                // Whatever the version made unbuildable, the most recent state is not.
                Err(_) if !rv.is_empty() => {
                    rv = String::new();
                    continue;
                }
                // Unbuildable for good: this target is not watched, the waiter polls (the
                // health stays false).
                Err(_) => return,
            };
            let opened = tokio::time::Instant::now();
            let open = self.conn.start(&req, None);
            let res = match tokio::time::timeout(OPEN_TIMEOUT.min(self.idle), open).await {
                Ok(Ok(res)) if res.status().is_success() => res,
                refused => {
                    let answer = match &refused {
                        Ok(Ok(res)) => Some(res),
                        _ => None,
                    };
                    let code = answer.map_or(0, |r| r.status().as_u16());
                    let asked = answer.and_then(retry_after);
                    if code == 410 {
                        rv = String::new();
                        self.set.poke();
                    }
                    // Refused (RBAC without `watch`): the GETs alone carry the wait and notice
                    // when a Role lands, so retry the watch only once per longest delay.
                    let delay = if matches!(code, 401 | 403) {
                        self.refused_delay
                    } else {
                        self.backoff.next_delay()
                    };
                    // A 429's Retry-After is the server's word (capped, as the waiter caps it).
                    let delay = delay.max(
                        asked
                            .unwrap_or_default()
                            .min(crate::backoff::MAX_RETRY_AFTER),
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            if !suspect {
                self.set.set_health(self.slot, true);
            }
            let end = self.follow(res, &mut rv, opened, suspect).await;
            suspect = matches!(end, End::Idle | End::Broken);
            // Whatever ended the stream, the renewed watch resumes from `rv`; a renewal is also
            // when the waiter re-reads the object (one GET per renewal, ~0.4 requests a minute
            // in all), which refreshes what the watch does not carry (a Job's pods).
            self.set.poke();
            if end == End::Gone {
                rv = String::new();
            }
            match end {
                End::Closed | End::Gone if opened.elapsed() >= SHORT_LIVED => self.backoff.reset(),
                // Short-lived, silent or garbage: not a working watch. Say so (the waiter polls
                // meanwhile) and reconnect on the backoff, never in a hot loop.
                End::Closed | End::Gone | End::Idle | End::Broken => {
                    self.set.set_health(self.slot, false);
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
            }
        }
    }

    /// Reads watch events (one JSON object per line) until the stream ends, goes silent for the
    /// idle timeout, outlives its lifetime or sends a line over [`MAX_LINE`]; pokes the waiter
    /// on every change to the watched object(s) and keeps the last resourceVersion.
    async fn follow(
        &self,
        mut res: reqwest::Response,
        rv: &mut String,
        opened: tokio::time::Instant,
        suspect: bool,
    ) -> End {
        let mut unproven = suspect;
        let lifetime_end = opened + Duration::from_secs(LIFETIME_SECONDS) + LIFETIME_SLACK;
        let mut lines = LineBuf::default();
        // Only a whole line (an event or a bookmark) proves the watch alive: a trickle of bytes
        // that never ends a line does not hold the idle timeout off.
        let mut idle_end = tokio::time::Instant::now() + self.idle;
        loop {
            let chunk = match tokio::time::timeout_at(idle_end.min(lifetime_end), res.chunk()).await
            {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None) | Err(_)) => return End::Closed,
                Err(_) if tokio::time::Instant::now() >= lifetime_end => return End::Closed,
                Err(_) => return End::Idle,
            };
            let mut got_line = false;
            let end = lines.push(&chunk, |line| {
                got_line = true;
                let end = self.event(line, rv);
                if unproven && end.is_none() {
                    unproven = false;
                    self.set.set_health(self.slot, true);
                }
                end
            });
            if let Some(end) = end {
                return end;
            }
            if got_line {
                idle_end = tokio::time::Instant::now() + self.idle;
                self.conn.talk.note_heard();
            }
        }
    }

    /// Handles one line of the stream; `Some` ends the stream.
    fn event(&self, line: &[u8], rv: &mut String) -> Option<End> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<WatchEvent<Meta>>(line) {
            Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                // A server or proxy that ignores the field selector sends events for other
                // names: they say nothing about this object.
                let other = match (&self.selector, &o.metadata.name) {
                    (Selector::Name(want), Some(name)) => want != name,
                    _ => false,
                };
                if !other && self.set.is_news(&self.path, &o.metadata) {
                    self.set.poke();
                }
                if let Some(v) = o.metadata.resource_version {
                    *rv = v;
                }
                None
            }
            Ok(WatchEvent::Bookmark(b)) => {
                *rv = b.metadata.resource_version;
                None
            }
            Ok(WatchEvent::Error(s)) if s.code == 410 => Some(End::Gone),
            Ok(WatchEvent::Error(_)) | Err(_) => Some(End::Broken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(lb: &mut LineBuf, chunk: &[u8], out: &mut Vec<String>) -> Option<End> {
        lb.push(chunk, |l| {
            out.push(String::from_utf8_lossy(l).into_owned());
            None
        })
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_several_in_one_chunk_are_split() {
        let mut lb = LineBuf::default();
        let mut out = Vec::new();
        assert_eq!(collect(&mut lb, b"{\"a\"", &mut out), None);
        assert_eq!(collect(&mut lb, b":1}\n{\"b\":2}\n{\"c", &mut out), None);
        assert_eq!(collect(&mut lb, b"\":3}\n", &mut out), None);
        assert_eq!(out, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        assert!(lb.buf.is_empty());
    }

    /// Regression (issue 13, item 8): a stream without newlines was buffered without limit and
    /// rescanned from its start on every chunk.
    #[test]
    fn a_line_over_the_cap_ends_the_stream_and_the_buffer_stays_bounded() {
        let mut lb = LineBuf::default();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 64 * 1024];
        let mut ended = None;
        for _ in 0..1000 {
            ended = collect(&mut lb, &chunk, &mut out);
            assert!(lb.buf.len() <= MAX_LINE + chunk.len());
            if ended.is_some() {
                break;
            }
        }
        assert_eq!(ended, Some(End::Broken));
        assert!(out.is_empty());
        // Only the new bytes are scanned: the unfinished line is marked scanned to its end.
        assert_eq!(lb.scanned, lb.buf.len());
    }

    #[test]
    fn a_line_just_under_the_cap_is_accepted() {
        let mut lb = LineBuf::default();
        let mut out = Vec::new();
        let mut big = vec![b'x'; MAX_LINE];
        big.push(b'\n');
        assert_eq!(collect(&mut lb, &big, &mut out), None);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_watch_on_a_missing_name_starts_from_the_most_recent_state_and_a_read_one_from_its_version()
    {
        let set = WatchSet::default();
        let path = SECRETS_PATH;
        let name = Selector::Name("s".into());
        assert_eq!(set.start_version(path, &name), "");
        set.read(
            &crate::kube::SECRETS,
            "ns",
            &serde_json::json!({"metadata": {"name": "s", "resourceVersion": "42"}}),
        );
        assert_eq!(set.start_version(path, &name), "42");
        let labels = Selector::Labels("app=x".into());
        assert_eq!(set.start_version(path, &labels), "");
        set.listed(
            &crate::kube::SECRETS,
            "ns",
            &serde_json::json!({"metadata": {"resourceVersion": "77"}, "items": []}),
        );
        assert_eq!(set.start_version(path, &labels), "77");
    }

    const SECRETS_PATH: &str = "/api/v1/namespaces/ns/secrets";

    /// A Certificate target whose check also GETs a Secret that no watch covers must poll:
    /// its watches being healthy says nothing about that Secret.
    #[test]
    fn a_get_of_an_object_no_watch_covers_makes_the_target_unhealthy() {
        let set = WatchSet::default();
        let secrets = crate::kube::SECRETS;
        lock(&set.started).push((secrets, Selector::Name("a".into())));
        lock(&set.health).push(true);
        set.update_health();
        assert!(*set.healthy.borrow());
        set.reading(&secrets, "ns", "a");
        assert!(*set.healthy.borrow(), "a is watched");
        set.reading(&crate::kube::CERTIFICATES, "ns", "a");
        assert!(!*set.healthy.borrow(), "certificates/a is not watched");
    }

    /// How one connection to the scripted API server is answered.
    #[derive(Clone)]
    enum Answer {
        /// 200 with these lines, `gap` apart, then the connection is closed.
        Lines(Vec<String>, Duration),
        /// Reads the request and never answers (no headers).
        Hang,
    }

    /// A kwait client of an API server on loopback that answers its n-th connection with
    /// `answers[n]` (the last one for any later), and reports every request line it reads.
    async fn scripted(
        answers: Vec<Answer>,
    ) -> (Kube, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let answer = answers[n.min(answers.len() - 1)].clone();
                n += 1;
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => head.extend_from_slice(&b[..k]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head);
                    let _ = tx.send(line.lines().next().unwrap_or("").to_string());
                    match answer {
                        Answer::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
                        Answer::Lines(lines, gap) => {
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
                                .await;
                            for l in lines {
                                let _ = sock.write_all(format!("{l}\n").as_bytes()).await;
                                tokio::time::sleep(gap).await;
                            }
                        }
                    }
                });
            }
        });
        let dir = std::env::temp_dir().join(format!("kwait-watch-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kc");
        std::fs::write(
            &kc,
            format!("apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: t\n  context: {{cluster: c, user: u, namespace: ns}}\n"),
        )
        .unwrap();
        let settings = crate::plan::KubeSettings {
            namespace: None,
            kubeconfig: Some(kc),
            context: None,
        };
        let kube = Kube::connect(&settings, Duration::from_secs(5))
            .await
            .unwrap();
        (kube, rx)
    }

    /// Starts the watch task on Secret `s` (read at version 1), with a 1 s idle timeout.
    fn start_watch(kube: &Kube) -> Arc<WatchSet> {
        let set = kube.watches.clone();
        let path = SECRETS_PATH.to_string();
        lock(&set.health).push(false);
        lock(&set.read).insert(format!("{path}/s"), "1".into());
        set.first_reads.send_modify(|p| {
            p.insert(path.clone());
        });
        let task = WatchTask {
            conn: kube.conn.clone(),
            path,
            selector: Selector::Name("s".into()),
            set: set.clone(),
            slot: 0,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(100)),
            refused_delay: Duration::from_millis(100),
            idle: Duration::from_secs(1),
        };
        tokio::spawn(task.run());
        set
    }

    fn bookmark(rv: &str) -> String {
        serde_json::json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"resourceVersion": rv}}})
        .to_string()
    }

    async fn next_request(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("no request within 20 s")
            .unwrap()
    }

    /// Regression: a bookmark with a 64 KiB resourceVersion made the renewal's URI unbuildable,
    /// and the watch task returned silently (never re-opened). It starts over from "".
    #[tokio::test]
    async fn a_bookmark_with_a_huge_resource_version_does_not_end_the_watch() {
        let huge = "9".repeat(64 * 1024);
        let (kube, mut rx) = scripted(vec![
            Answer::Lines(vec![bookmark(&huge)], Duration::from_millis(10)),
            Answer::Lines(vec![bookmark("2")], Duration::from_millis(10)),
        ])
        .await;
        let _set = start_watch(&kube);
        let first = next_request(&mut rx).await;
        assert!(first.contains("resourceVersion=1"), "{first}");
        let renewed = next_request(&mut rx).await;
        assert!(renewed.contains("watch=true"), "{renewed}");
        assert!(
            !renewed.contains("999"),
            "{}",
            &renewed[..200.min(renewed.len())]
        );
    }

    /// Regression: re-opening a watch after a long-lived stream kept the last stream's health
    /// (true) and had no time bound, so a server that accepts and never sends headers left the
    /// waiter sleeping as if watched. The watch is unhealthy until the new headers arrive, and
    /// the open is given up after its timeout (here the 1 s idle timeout) and retried.
    #[tokio::test]
    async fn a_reopened_watch_whose_headers_never_come_is_unhealthy_and_bounded() {
        let lines: Vec<String> = (2..40).map(|i| bookmark(&i.to_string())).collect();
        let (kube, mut rx) = scripted(vec![
            // Longer than SHORT_LIVED, a line every 200 ms (under the idle timeout).
            Answer::Lines(lines, Duration::from_millis(200)),
            Answer::Hang,
        ])
        .await;
        let set = start_watch(&kube);
        let mut healthy = set.healthy.subscribe();
        next_request(&mut rx).await;
        tokio::time::timeout(Duration::from_secs(10), healthy.wait_for(|h| *h))
            .await
            .expect("the first stream is healthy")
            .unwrap();
        let reopened = next_request(&mut rx).await;
        assert!(reopened.contains("resourceVersion=39"), "{reopened}");
        tokio::time::timeout(Duration::from_secs(2), healthy.wait_for(|h| !*h))
            .await
            .expect("unhealthy while the re-open hangs")
            .unwrap();
        // Bounded: given up and tried again.
        next_request(&mut rx).await;
        assert!(!*set.healthy.borrow());
    }
}
