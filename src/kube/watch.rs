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

use super::{Conn, Kube, Resource, Selector};
use crate::backoff::Backoff;
use crate::net::text::lock;

/// Wake-up signals from a watch: `notify` fires when the watched object changed; `healthy`
/// says whether the watch is currently established.
#[derive(Debug, Clone)]
pub struct Wake {
    /// Poked on every watch event (coalesced: many events before the next check make one check).
    pub notify: Arc<Notify>,
    /// `true` while every watch is established.
    pub healthy: watch::Receiver<bool>,
}

impl Kube {
    /// Starts (once per resource and selector) a watch that pokes the returned [`Wake`] on
    /// every change. The same `Wake` serves every watch this client starts.
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
            };
            tokio::spawn(task.run());
        }
        Wake {
            notify: set.notify.clone(),
            healthy: set.healthy.subscribe(),
        }
    }
}

/// Every watch of one client: one notifier, one health flag (all watches established).
#[derive(Debug)]
pub(super) struct WatchSet {
    notify: Arc<Notify>,
    healthy: watch::Sender<bool>,
    health: Mutex<Vec<bool>>,
    started: Mutex<Vec<(Resource, Selector)>>,
    /// The resourceVersion of each object as the last GET or LIST read it, by path and name:
    /// a watch event for a version already read (the watch's initial ADDED) pokes nobody.
    read: Mutex<HashMap<String, String>>,
    /// The resource paths read at least once. A watch opens only after its resource's first
    /// read (GET then watch, as informers list then watch), so that its initial ADDED event
    /// cannot overtake the GET's answer and cost a second, identical GET.
    first_reads: watch::Sender<HashSet<String>>,
}

impl Default for WatchSet {
    fn default() -> Self {
        WatchSet {
            notify: Arc::new(Notify::new()),
            healthy: watch::Sender::new(false),
            health: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            read: Mutex::new(HashMap::new()),
            first_reads: watch::Sender::new(HashSet::new()),
        }
    }
}

impl WatchSet {
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

    /// Whether a watch event brings a version nobody has read yet.
    fn is_news(&self, path: &str, meta: &MetaFields) -> bool {
        match (&meta.name, &meta.resource_version) {
            (Some(name), Some(rv)) => lock(&self.read).get(&format!("{path}/{name}")) != Some(rv),
            _ => true,
        }
    }

    fn set_health(&self, slot: usize, ok: bool) {
        let all = {
            let mut h = lock(&self.health);
            if let Some(s) = h.get_mut(slot) {
                *s = ok;
            }
            h.iter().all(|s| *s)
        };
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

struct WatchTask {
    conn: Arc<Conn>,
    path: String,
    selector: Selector,
    set: Arc<WatchSet>,
    slot: usize,
    backoff: Backoff,
    refused_delay: Duration,
}

impl WatchTask {
    /// Watches for ever (the process ends with the wait): reconnects after the server's timeout,
    /// resumes from the last resourceVersion, starts over from "0" after 410 Gone, and backs off
    /// while the watch is refused (e.g. forbidden: polling alone carries the wait then).
    async fn run(mut self) {
        let mut first_reads = self.set.first_reads.subscribe();
        if first_reads
            .wait_for(|p| p.contains(&self.path))
            .await
            .is_err()
        {
            return;
        }
        let mut rv = "0".to_string();
        loop {
            let mut wp = WatchParams::default().timeout(290);
            wp.bookmarks = true;
            let wp = match &self.selector {
                Selector::Name(n) => wp.fields(&format!("metadata.name={n}")),
                Selector::Labels(l) => wp.labels(l),
            };
            let Ok(req) = Request::new(&self.path).watch(&wp, &rv) else {
                return;
            };
            let opened = tokio::time::Instant::now();
            let res = match self.conn.start(&req).await {
                Ok(res) if res.status().is_success() => res,
                refused => {
                    self.set.set_health(self.slot, false);
                    let code = refused.map_or(0, |r| r.status().as_u16());
                    if code == 410 {
                        rv = "0".into();
                    }
                    // Refused (RBAC without `watch`): the GETs alone carry the wait and notice
                    // when a Role lands, so retry the watch only once per longest delay.
                    let delay = if matches!(code, 401 | 403) {
                        self.refused_delay
                    } else {
                        self.backoff.next_delay()
                    };
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            self.set.set_health(self.slot, true);
            if self.follow(res, &mut rv).await == Some(410) {
                rv = "0".into();
            }
            // The stream ended: the server's timeout, a closed connection, a 410. Something
            // may have been missed, so poke the waiter; reconnect at once unless the stream
            // was short-lived, which would otherwise turn into a hot loop.
            self.set.notify.notify_one();
            if opened.elapsed() < Duration::from_secs(5) {
                self.set.set_health(self.slot, false);
                tokio::time::sleep(self.backoff.next_delay()).await;
            } else {
                self.backoff.reset();
            }
        }
    }

    /// Reads watch events (one JSON object per line) until the stream ends; pokes the waiter on
    /// every change and keeps the last resourceVersion. Returns the code of an `ERROR` event.
    async fn follow(&self, mut res: reqwest::Response, rv: &mut String) -> Option<u16> {
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<WatchEvent<Meta>>(&line) {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                        if self.set.is_news(&self.path, &o.metadata) {
                            self.set.notify.notify_one();
                        }
                        if let Some(v) = o.metadata.resource_version {
                            *rv = v;
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => *rv = b.metadata.resource_version,
                    Ok(WatchEvent::Error(s)) => return Some(s.code),
                    Err(_) => return None,
                }
            }
        }
        None
    }
}
