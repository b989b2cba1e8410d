//! `wait-service NAME [--port P] [--min-ready N]`: ready when the Service has at least N ready
//! endpoints (for port P when given), counted over its EndpointSlices (label
//! `kubernetes.io/service-name=NAME`) as kube-proxy counts them. When it has none, the report says
//! whether any pod matches the Service's selector.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::{ENDPOINT_SLICES, Kube, PODS, SERVICES};
use crate::net::text::printable;
use crate::rbac::Rule;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// How many characters of a name or selector a state line shows.
const SHOWN: usize = 120;

/// Waits for a Service's ready endpoints.
#[derive(Debug)]
pub struct ServiceProbe {
    kube: Kube,
    name: String,
    port: Option<String>,
    min_ready: usize,
    rules: Vec<Rule>,
    role: String,
}

impl ServiceProbe {
    /// A probe for the Service `name` in the client's namespace.
    pub fn new(
        kube: Kube,
        name: String,
        port: Option<String>,
        min_ready: usize,
        rules: Vec<Rule>,
        role: String,
    ) -> Self {
        ServiceProbe {
            kube,
            name,
            port,
            min_ready,
            rules,
            role,
        }
    }

    fn object(&self) -> String {
        format!("Service {}/{}", self.kube.namespace, self.name)
    }

    fn ctx<'a>(&'a self, res: &'a crate::kube::Resource) -> Ctx<'a> {
        Ctx {
            kube: &self.kube,
            res,
            rules: &self.rules,
            role: &self.role,
        }
    }
}

/// `Service crs/postgres (port 5432, at least 2 ready endpoints)`.
pub fn describe(namespace: &str, name: &str, port: Option<&str>, min_ready: usize) -> String {
    let mut extra = Vec::new();
    if let Some(p) = port {
        extra.push(format!("port {p}"));
    }
    if min_ready != 1 {
        extra.push(format!("at least {min_ready} ready endpoints"));
    }
    if extra.is_empty() {
        format!("Service {namespace}/{name}")
    } else {
        format!("Service {namespace}/{name} ({})", extra.join(", "))
    }
}

impl Probe for ServiceProbe {
    fn describe(&self) -> String {
        describe(
            &self.kube.namespace,
            &self.name,
            self.port.as_deref(),
            self.min_ready,
        )
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(async move {
            let service = match self.kube.get(&SERVICES, &self.name).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    return Check::Pending(
                        Observation::new(Class::NotFound, "not found")
                            .cause(format!("{} does not exist yet", self.object()))
                            .fix(format!(
                                "check the name and what creates it: kubectl get services -n {}",
                                self.kube.namespace
                            )),
                    );
                }
                Err(e) => return Check::Pending(api::observe(&e, &self.ctx(&SERVICES))),
            };
            let selector = format!("{SERVICE_NAME_LABEL}={}", self.name);
            let slices = match self.kube.list(&ENDPOINT_SLICES, &selector).await {
                Ok(l) => l.items,
                Err(e) => return Check::Pending(api::observe(&e, &self.ctx(&ENDPOINT_SLICES))),
            };
            let judged = judge(
                &self.kube.namespace,
                &self.name,
                &service,
                &slices,
                self.port.as_deref(),
                self.min_ready,
            );
            match judged {
                Judged::NoEndpoints(obs, Some(pods)) => {
                    // Whether any pod matches: optional (list pods), and only to say why.
                    let obs = match self.kube.list(&PODS, &pods).await {
                        Ok(l) => explain_pods(obs, &pods, &l.items),
                        Err(_) => obs,
                    };
                    Check::Pending(obs)
                }
                Judged::NoEndpoints(obs, None) => Check::Pending(obs),
                Judged::Done(c) => c,
            }
        })
    }
}

/// A judgement, and when there are no ready endpoints, the label selector of the pods that
/// could serve (to look for them).
#[derive(Debug, PartialEq)]
pub enum Judged {
    /// Ready, pending with endpoints, or failed.
    Done(Check),
    /// No ready endpoint; the Service's pod selector when it has one.
    NoEndpoints(Observation, Option<String>),
}

/// The Service's selector as a label selector (`app=postgres,tier=db`); `None` when it has none
/// (its endpoints are managed by hand).
fn pod_selector(service: &Value) -> Option<String> {
    let sel = service.pointer("/spec/selector")?.as_object()?;
    let parts: Vec<String> = sel
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The port name the EndpointSlices use for `--port P`: the Service port whose name or number
/// is P (slices name their ports after the Service's). `Err` names the ports there are.
fn slice_port_name(service: &Value, port: &str) -> Result<String, String> {
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let found = ports.iter().find(|p| {
        p.get("name").and_then(Value::as_str) == Some(port)
            || p.get("port").and_then(Value::as_u64).map(|n| n.to_string()) == Some(port.into())
    });
    match found {
        Some(p) => Ok(p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()),
        None => Err(ports
            .iter()
            .map(|p| {
                let num = p.get("port").and_then(Value::as_u64).unwrap_or(0);
                match p.get("name").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() => format!("{} ({num})", printable(n, 63)),
                    _ => num.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")),
    }
}

/// Counts a Service's endpoints over its EndpointSlices, as kube-proxy does: an endpoint is
/// ready unless its `ready` condition is false (unset means ready), serving likewise, terminating
/// only when set. With `port`, only slices that carry that port count. An endpoint in two
/// slices (dual-stack: one slice per address family) counts once, by its pod (or address).
pub fn judge(
    namespace: &str,
    name: &str,
    service: &Value,
    slices: &[Value],
    port: Option<&str>,
    min_ready: usize,
) -> Judged {
    let object = &format!("Service {namespace}/{name}");
    if service.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName") {
        let target = service
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Judged::Done(Check::Ready(format!(
            "{object} is an ExternalName Service ({}): it has no endpoints to wait for",
            printable(target, SHOWN)
        )));
    }
    let wanted_port = match port.map(|p| slice_port_name(service, p)).transpose() {
        Ok(p) => p,
        Err(ports) => {
            return Judged::Done(Check::Pending(
                Observation::new(
                    Class::NotReady,
                    format!("has no port {}", port.unwrap_or_default()),
                )
                .cause(format!(
                    "{object} exposes {}",
                    if ports.is_empty() {
                        "no ports".to_string()
                    } else {
                        format!("ports {ports}")
                    }
                ))
                .fix("check --port: a Service port's name or number"),
            ));
        }
    };
    let counted = count(slices, wanted_port.as_deref());
    let Endpoints {
        ready,
        serving,
        terminating,
        all,
    } = &counted;
    let n = ready.len();
    let endpoints = |k: usize| if k == 1 { "endpoint" } else { "endpoints" };
    if n >= min_ready && n > 0 {
        return Judged::Done(Check::Ready(format!(
            "{object} has {n} ready {}{}",
            endpoints(n),
            wanted_port
                .as_ref()
                .map(|_| format!(" for port {}", port.unwrap_or_default()))
                .unwrap_or_default()
        )));
    }
    let mut state = ready_of(&counted);
    if min_ready > 1 {
        state.push_str(&format!(" (waiting for {min_ready})"));
    }
    let mut extra = Vec::new();
    let not_ready_serving = serving.difference(ready).count();
    if not_ready_serving > 0 {
        extra.push(format!("{not_ready_serving} serving"));
    }
    if !terminating.is_empty() {
        extra.push(format!("{} terminating", terminating.len()));
    }
    if !extra.is_empty() {
        state.push_str(&format!(" ({})", extra.join(", ")));
    }
    let obs = Observation::new(Class::NotReady, state).cause(if all.is_empty() {
        format!("{object} has no endpoints yet: no pod behind it is ready, or none exists")
    } else {
        format!("{object} has endpoints, but not {min_ready} ready ones: its pods are not Ready (readiness probe failing, still starting, terminating)")
    });
    if n == 0 {
        let selector = pod_selector(service);
        let obs = match &selector {
            Some(sel) => obs.fix(format!(
                "see its pods: kubectl get pods -n {namespace} -l {}",
                printable(sel, SHOWN)
            )),
            None => obs.fix("the Service has no selector: whatever manages its EndpointSlices has not added a ready endpoint"),
        };
        return Judged::NoEndpoints(obs, selector);
    }
    Judged::Done(Check::Pending(obs))
}

/// A Service's endpoints over its EndpointSlices, each by its pod (or address), so that an
/// endpoint in two slices (dual-stack) counts once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Ready: its `ready` condition is not false (unset means ready, as the API says).
    pub ready: BTreeSet<String>,
    /// Serving (unset: as ready).
    pub serving: BTreeSet<String>,
    /// Terminating (only when set).
    pub terminating: BTreeSet<String>,
    /// Every endpoint.
    pub all: BTreeSet<String>,
}

/// Counts the endpoints of `slices`, as kube-proxy does; with `port` (the slices' name for
/// it), only slices that carry that port count.
pub fn count(slices: &[Value], port: Option<&str>) -> Endpoints {
    let mut e = Endpoints::default();
    for slice in slices {
        if let Some(want) = port {
            let has = slice
                .get("ports")
                .and_then(Value::as_array)
                .is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == want)
                });
            if !has {
                continue;
            }
        }
        let endpoints = slice
            .get("endpoints")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for ep in endpoints {
            let key = ep
                .pointer("/targetRef/uid")
                .or_else(|| ep.pointer("/targetRef/name"))
                .or_else(|| ep.pointer("/addresses/0"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let cond = |c: &str| {
                ep.pointer(&format!("/conditions/{c}"))
                    .and_then(Value::as_bool)
            };
            let is_ready = cond("ready") != Some(false);
            let is_serving = cond("serving").unwrap_or(is_ready);
            if cond("terminating") == Some(true) {
                e.terminating.insert(key.clone());
            }
            if is_ready {
                e.ready.insert(key.clone());
            }
            if is_serving {
                e.serving.insert(key.clone());
            }
            e.all.insert(key);
        }
    }
    e
}

/// `0 of 2 endpoints ready`.
pub fn ready_of(e: &Endpoints) -> String {
    let word = if e.all.len() == 1 {
        "endpoint"
    } else {
        "endpoints"
    };
    format!("{} of {} {word} ready", e.ready.len(), e.all.len())
}

/// Adds to `obs` what the pods matching the Service's `selector` show: none at all, or how many
/// match and none ready.
pub fn explain_pods(obs: Observation, selector: &str, pods: &[Value]) -> Observation {
    let sel = printable(selector, SHOWN);
    if pods.is_empty() {
        let mut o = obs;
        o.state = format!("{}: no pod matches selector {sel}", o.state);
        return o;
    }
    let running = pods
        .iter()
        .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
        .count();
    let mut o = obs;
    o.state = format!(
        "{}: {} {} selector {sel}, {running} running, none ready",
        o.state,
        pods.len(),
        if pods.len() == 1 {
            "pod matches"
        } else {
            "pods match"
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Value {
        json!({"kind": "Service", "metadata": {"name": "postgres", "namespace": "crs"},
               "spec": {"type": "ClusterIP", "selector": {"app": "postgres"},
                        "ports": [{"name": "pg", "port": 5432, "targetPort": 5432}, {"name": "metrics", "port": 9187}]}})
    }

    fn endpoint(pod: &str, ready: Option<bool>, terminating: bool) -> Value {
        let mut conditions = json!({"serving": ready.unwrap_or(true), "terminating": terminating});
        if let Some(r) = ready {
            conditions["ready"] = json!(r);
        }
        json!({"addresses": [format!("10.0.0.{}", pod.len())], "conditions": conditions,
               "targetRef": {"kind": "Pod", "name": pod, "uid": format!("uid-{pod}")}})
    }

    fn slice(ports: &[&str], endpoints: Vec<Value>) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| json!({"name": p, "port": 5432, "protocol": "TCP"}))
            .collect();
        json!({"kind": "EndpointSlice", "addressType": "IPv4", "ports": ports, "endpoints": endpoints,
               "metadata": {"labels": {SERVICE_NAME_LABEL: "postgres"}}})
    }

    fn pending(j: Judged) -> Observation {
        match j {
            Judged::Done(Check::Pending(o)) | Judged::NoEndpoints(o, _) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_service_with_a_ready_endpoint_is_ready() {
        let s = [slice(&["pg"], vec![endpoint("pg-0", Some(true), false)])];
        assert_eq!(
            judge("crs", "postgres", &service(), &s, None, 1),
            Judged::Done(Check::Ready(
                "Service crs/postgres has 1 ready endpoint".into()
            ))
        );
    }

    #[test]
    fn an_unset_ready_condition_means_ready_as_the_api_says() {
        let s = [slice(&["pg"], vec![endpoint("pg-0", None, false)])];
        assert!(matches!(
            judge("crs", "postgres", &service(), &s, None, 1),
            Judged::Done(Check::Ready(_))
        ));
    }

    #[test]
    fn no_slices_say_no_endpoints_and_ask_for_the_selectors_pods() {
        match judge("crs", "postgres", &service(), &[], None, 1) {
            Judged::NoEndpoints(o, Some(sel)) => {
                assert_eq!(o.state, "0 of 0 endpoints ready");
                assert_eq!(sel, "app=postgres");
                assert_eq!(
                    o.fix,
                    ["see its pods: kubectl get pods -n crs -l app=postgres"]
                );
                let o = explain_pods(o, &sel, &[]);
                assert_eq!(
                    o.state,
                    "0 of 0 endpoints ready: no pod matches selector app=postgres"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_ready_serving_and_terminating_endpoints_are_counted_apart() {
        let s = [slice(
            &["pg"],
            vec![
                endpoint("pg-0", Some(false), false),
                endpoint("pg-1", Some(false), true),
                json!({"addresses": ["10.0.0.9"], "conditions": {"ready": false, "serving": true, "terminating": true},
                       "targetRef": {"kind": "Pod", "name": "pg-2", "uid": "uid-pg-2"}}),
            ],
        )];
        let o = pending(judge("crs", "postgres", &service(), &s, None, 1));
        assert_eq!(o.state, "0 of 3 endpoints ready (1 serving, 2 terminating)");
    }

    #[test]
    fn min_ready_waits_for_that_many_and_dual_stack_slices_count_a_pod_once() {
        let v6 = |eps| {
            let mut s = slice(&["pg"], eps);
            s["addressType"] = json!("IPv6");
            s
        };
        let s = [
            slice(
                &["pg"],
                vec![
                    endpoint("pg-0", Some(true), false),
                    endpoint("pg-1", Some(false), false),
                ],
            ),
            v6(vec![
                endpoint("pg-0", Some(true), false),
                endpoint("pg-1", Some(false), false),
            ]),
        ];
        let o = pending(judge("crs", "postgres", &service(), &s, None, 2));
        assert_eq!(o.state, "1 of 2 endpoints ready (waiting for 2)");
        assert!(matches!(
            judge("crs", "postgres", &service(), &s, None, 1),
            Judged::Done(Check::Ready(_))
        ));
    }

    #[test]
    fn a_port_by_name_or_number_counts_only_slices_that_carry_it() {
        let s = [
            slice(&["metrics"], vec![endpoint("exporter", Some(true), false)]),
            slice(&["pg"], vec![endpoint("pg-0", Some(false), false)]),
        ];
        assert!(matches!(
            judge("crs", "postgres", &service(), &s, Some("9187"), 1),
            Judged::Done(Check::Ready(_))
        ));
        let o = pending(judge("crs", "postgres", &service(), &s, Some("5432"), 1));
        assert_eq!(o.state, "0 of 1 endpoint ready");
        let o = pending(judge("crs", "postgres", &service(), &s, Some("http"), 1));
        assert_eq!(o.state, "has no port http");
        assert_eq!(
            o.cause.as_deref(),
            Some("Service crs/postgres exposes ports pg (5432), metrics (9187)")
        );
    }

    #[test]
    fn an_external_name_service_has_nothing_to_wait_for() {
        let s = json!({"kind": "Service", "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert!(
            matches!(judge("crs", "postgres", &s, &[], None, 1), Judged::Done(Check::Ready(d)) if d.contains("db.example.com"))
        );
    }

    #[test]
    fn pods_that_match_but_are_not_ready_are_counted() {
        let o = Observation::new(Class::NotReady, "0 of 0 endpoints ready");
        let pods = [
            json!({"status": {"phase": "Running"}}),
            json!({"status": {"phase": "Pending"}}),
        ];
        let o = explain_pods(o, "app=postgres", &pods);
        assert_eq!(
            o.state,
            "0 of 0 endpoints ready: 2 pods match selector app=postgres, 1 running, none ready"
        );
    }
}
