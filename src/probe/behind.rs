//! `wait-http URL --service NAME` and `wait-tcp HOST:PORT --service NAME`: a network target
//! behind a Service. Nothing can wake a network check by itself, but inside a cluster the
//! Service's EndpointSlices say when an endpoint becomes usable: the kubelet's readiness probe
//! flips the endpoint to ready, and kube-proxy then routes to it.
//!
//! [`Behind`] wraps the network probe: it follows the Service's EndpointSlices (one LIST, then
//! the watch's pokes; a LIST per change, as every Kubernetes target re-reads on a poke) and
//! pokes its hint whenever the set of ready endpoints changes, on which the waiter checks at
//! once and on its follow-ups (`waiter::FOLLOW_UPS`). Readiness is still the network answer
//! alone: the endpoints only decide when to look, and appear in the state line
//! (`connection refused; Service crs/web: 0 of 1 endpoint ready`). When the slices may not be
//! read (403, not served) the wait polls as without `--service`, and its state says so.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::service::{Endpoints, SERVICE_NAME_LABEL, count, ready_of};
use super::{BoxFuture, Check, Class, Probe};
use crate::backoff::{Backoff, Budget};
use crate::kube::{ENDPOINT_SLICES, Kube, Selector};
use crate::net::text::lock;

/// At most this many LISTs of the slices in any [`LIST_WINDOW`], however fast the watch pokes
/// (as a Kubernetes target's checks: 2 a second over time).
const LIST_BURST: usize = 5;
const LIST_WINDOW: Duration = Duration::from_millis(2500);

/// How long the wait's start waits for the first LIST, so that its first state line names the
/// endpoints (a slow API server delays the network check no longer than this).
const FIRST_LIST: Duration = Duration::from_secs(2);

/// How long one LIST may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a refused LIST (403, 401, type not served) is tried again: a Role granted later is
/// noticed, at two requests a minute.
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// What the network check's state line is told of the Service.
#[derive(Debug, Default)]
struct View {
    /// The endpoints the last LIST counted.
    endpoints: Option<Endpoints>,
    /// Why the endpoints are not followed (the wait polls alone).
    unwatched: Option<String>,
}

/// A network probe behind a Service (see the module's text).
pub struct Behind {
    inner: Box<dyn Probe>,
    namespace: String,
    name: String,
    view: Arc<Mutex<View>>,
    /// True once the first LIST answered (or was refused).
    known: watch::Receiver<bool>,
}

/// How the follower of a Service's slices is set up.
pub struct Follow {
    /// A client in the Service's namespace; its watches may be shared with `wait-service`.
    pub kube: Kube,
    /// The Service's name.
    pub name: String,
    /// Whether another target (`wait-service NAME`) checks the same slices through `kube`: the
    /// follower's reads are then kept apart from that target's ([`Kube::list_beside`]).
    pub shared: bool,
    /// The steady polling period (the backoff of a failed LIST starts there).
    pub interval: Duration,
}

impl Behind {
    /// Wraps `inner` and starts following the Service's slices; returns the probe and the hint
    /// that is poked whenever the Service's set of ready endpoints changes.
    pub fn start(inner: Box<dyn Probe>, f: Follow) -> (Behind, Arc<Notify>) {
        let namespace = f.kube.namespace.clone();
        let view = Arc::new(Mutex::new(View::default()));
        let (known_tx, known) = watch::channel(false);
        let hint = Arc::new(Notify::new());
        let selector = format!("{SERVICE_NAME_LABEL}={}", f.name);
        let name = f.name.clone();
        let poked = f.kube.subscribe();
        let watched = f.kube.wake().healthy;
        // The watch opens after the first LIST, from its version (unless shared, when the
        // other target's first LIST decides).
        f.kube.watch(
            &ENDPOINT_SLICES,
            Selector::Labels(selector.clone()),
            f.interval,
            REFUSED_RETRY,
        );
        let follower = Follower {
            kube: f.kube,
            selector,
            shared: f.shared,
            view: view.clone(),
            hint: hint.clone(),
            poked,
            watched,
            known: known_tx,
            backoff: Backoff::new(f.interval, REFUSED_RETRY),
        };
        tokio::spawn(follower.run());
        (
            Behind {
                inner,
                namespace,
                name,
                view,
                known,
            },
            hint,
        )
    }

    /// What the state line says of the Service, once something is known.
    fn note(&self) -> Option<String> {
        let object = format!("Service {}/{}", self.namespace, self.name);
        note(&object, &lock(&self.view))
    }
}

/// `Service crs/web: 0 of 1 endpoint ready`, or why its endpoints are not followed.
fn note(object: &str, view: &View) -> Option<String> {
    if let Some(why) = &view.unwatched {
        return Some(format!(
            "{object}'s endpoints not watched ({why}): checking on the steady period only"
        ));
    }
    view.endpoints
        .as_ref()
        .map(|e| format!("{object}: {}", ready_of(e)))
}

/// `HTTP GET http://web:8080/health (woken by Service crs/web)`.
pub fn describe(inner: &str, namespace: &str, service: &str) -> String {
    format!("{inner} (woken by Service {namespace}/{service})")
}

impl Probe for Behind {
    fn describe(&self) -> String {
        describe(&self.inner.describe(), &self.namespace, &self.name)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async move {
            match self.inner.check(attempt_timeout).await {
                Check::Pending(mut obs) => {
                    if let Some(note) = self.note() {
                        obs.state = format!("{}; {note}", obs.state);
                    }
                    Check::Pending(obs)
                }
                other => other,
            }
        })
    }

    fn prepare(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.inner.prepare().await?;
            let _ = tokio::time::timeout(FIRST_LIST, self.known.wait_for(|k| *k)).await;
            Ok(())
        })
    }

    fn explain(&mut self) -> BoxFuture<'_, Vec<(String, String)>> {
        self.inner.explain()
    }
}

/// Follows a Service's slices for [`Behind`].
struct Follower {
    kube: Kube,
    selector: String,
    shared: bool,
    view: Arc<Mutex<View>>,
    hint: Arc<Notify>,
    poked: Arc<Notify>,
    /// Whether the client's watches are established (the slices' among them).
    watched: watch::Receiver<bool>,
    known: watch::Sender<bool>,
    backoff: Backoff,
}

impl Follower {
    /// LISTs the slices now and after every poke of the watch (within [`LIST_BURST`] per
    /// [`LIST_WINDOW`]); pokes the hint when the set of ready endpoints changed. Runs until the
    /// process ends.
    async fn run(mut self) {
        let mut recent = Budget::new(LIST_BURST, LIST_WINDOW);
        loop {
            tokio::time::sleep_until(recent.allowed(Instant::now())).await;
            recent.spend(Instant::now());
            let listed = async {
                if self.shared {
                    self.kube
                        .list_beside(&ENDPOINT_SLICES, &self.selector)
                        .await
                } else {
                    self.kube.list(&ENDPOINT_SLICES, &self.selector).await
                }
            };
            let listed = tokio::time::timeout(LIST_TIMEOUT, listed).await;
            match listed {
                Ok(Ok(list)) => {
                    self.backoff.reset();
                    let now = count(&list.items, None);
                    let changed = {
                        let mut v = lock(&self.view);
                        v.unwatched = None;
                        let changed = v.endpoints.as_ref().is_some_and(|e| e.ready != now.ready);
                        v.endpoints = Some(now);
                        changed
                    };
                    if changed {
                        self.hint.notify_one();
                    }
                    self.known.send_replace(true);
                    self.next_change().await;
                }
                Ok(Err(e))
                    if matches!(
                        e.class,
                        Class::Forbidden | Class::Unauthorized | Class::NotServed
                    ) =>
                {
                    let why = match e.class {
                        Class::Forbidden => "list endpointslices.discovery.k8s.io forbidden",
                        Class::Unauthorized => "the API server refused the credentials",
                        _ => "endpointslices.discovery.k8s.io not served",
                    };
                    lock(&self.view).unwatched = Some(why.to_string());
                    self.known.send_replace(true);
                    tokio::time::sleep(REFUSED_RETRY).await;
                }
                // Transient (5xx, a reset, a timeout): the last count stands; try again on the
                // backoff.
                Ok(Err(_)) | Err(_) => tokio::time::sleep(self.backoff.next_delay()).await,
            }
        }
    }
}

impl Follower {
    /// Until the watch pokes; or, while the watch is not established (refused, broken), until
    /// [`REFUSED_RETRY`] has passed, so that the count in the state line is never older than
    /// that. While the watch is healthy and nothing changes, no request is made.
    async fn next_change(&mut self) {
        loop {
            tokio::select! {
                _ = self.poked.notified() => return,
                _ = tokio::time::sleep(REFUSED_RETRY) => {
                    if !*self.watched.borrow() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(ready: &[&str], not_ready: &[&str]) -> Endpoints {
        let ep = |uid: &str, ready: bool| json!({"targetRef": {"uid": uid}, "conditions": {"ready": ready}});
        let list: Vec<_> = (ready.iter().map(|u| ep(u, true)))
            .chain(not_ready.iter().map(|u| ep(u, false)))
            .collect();
        count(&[json!({"endpoints": list})], None)
    }

    #[test]
    fn the_state_names_the_services_ready_endpoints_once_they_are_known() {
        let mut v = View::default();
        assert_eq!(note("Service crs/web", &v), None);
        v.endpoints = Some(endpoints(&[], &["a"]));
        assert_eq!(
            note("Service crs/web", &v).unwrap(),
            "Service crs/web: 0 of 1 endpoint ready"
        );
        v.endpoints = Some(endpoints(&["a"], &["b"]));
        assert_eq!(
            note("Service crs/web", &v).unwrap(),
            "Service crs/web: 1 of 2 endpoints ready"
        );
        v.unwatched = Some("list endpointslices.discovery.k8s.io forbidden".into());
        assert_eq!(
            note("Service crs/web", &v).unwrap(),
            "Service crs/web's endpoints not watched (list endpointslices.discovery.k8s.io forbidden): checking on the steady period only"
        );
    }

    #[test]
    fn the_ready_set_changes_when_an_endpoint_turns_ready_or_is_replaced() {
        let before = endpoints(&[], &["a"]);
        assert_ne!(before.ready, endpoints(&["a"], &[]).ready);
        assert_eq!(
            before.ready,
            endpoints(&[], &["a", "b"]).ready,
            "a not-ready endpoint added: no change"
        );
        assert_ne!(endpoints(&["a"], &[]).ready, endpoints(&["b"], &[]).ready);
    }
}
