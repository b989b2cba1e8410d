//! `wait-ready KIND/NAME` and `wait-ready KIND -l SELECTOR [--any]`: any object, judged by its
//! kind's readiness rules (`kstatus`), or by `--condition` / `--json-path`. The type is found
//! through the server's discovery when the wait starts; a type not served yet (its CRD not
//! installed) is a pending state, looked up again with backoff, and its watch starts once the
//! type is known.

use std::time::Duration;

use serde_json::Value;

use super::api::{self, Ctx};
use super::kstatus;
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::discovery::{self, DiscoveryError, Resolved};
use crate::kube::{Kube, Selector};
use crate::plan::{JobSelect, ReadyJudge, ReadyTarget};
use crate::rbac::{self, Rule};

/// Waits for an object of any type.
#[derive(Debug)]
pub struct ReadyProbe {
    kube: Kube,
    target: ReadyTarget,
    /// The type, once discovery found it.
    resolved: Option<Resolved>,
    rules: Vec<Rule>,
    role: String,
    /// The watch's retry delays.
    interval: Duration,
    max_interval: Duration,
}

impl ReadyProbe {
    /// A probe for `target` in the client's namespace (cluster-scoped types: none).
    pub fn new(
        kube: Kube,
        target: ReadyTarget,
        rules: Vec<Rule>,
        role: String,
        interval: Duration,
        max_interval: Duration,
    ) -> Self {
        ReadyProbe {
            kube,
            target,
            resolved: None,
            rules,
            role,
            interval,
            max_interval,
        }
    }

    /// The type, found once: then its rules are those of the type the server serves, and its
    /// watch starts.
    async fn lookup(&mut self) -> Result<Resolved, DiscoveryError> {
        if let Some(r) = &self.resolved {
            return Ok(r.clone());
        }
        let r = discovery::resolve(&self.kube, &self.target.kind).await?;
        let e = &r.entry;
        self.rules = vec![rbac::ready_rule(
            &self.target,
            &e.group,
            &e.plural,
            e.namespaced,
        )];
        let selector = match &self.target.select {
            JobSelect::Name(n) => Selector::Name(n.clone()),
            JobSelect::Selector(s) => Selector::Labels(s.clone()),
        };
        r.client(&self.kube)
            .watch(&r.resource, selector, self.interval, self.max_interval);
        self.resolved = Some(r.clone());
        Ok(r)
    }

    /// [`Self::lookup`], its failures worded as a check.
    async fn resolve(&mut self) -> Result<Resolved, Check> {
        let found = self.lookup().await;
        found.map_err(|e| api::discovery_failed(e, &self.kube, &self.rules, &self.role))
    }

    fn judge(&self, obj: &Value) -> Check {
        match &self.target.judge {
            ReadyJudge::Rules => kstatus::judge(obj),
            ReadyJudge::Condition { kind, status } => kstatus::judge_condition(obj, kind, status),
            ReadyJudge::JsonPath(j) => {
                kstatus::judge_json_path(obj, &j.path, &j.query, j.equals.as_deref())
            }
        }
    }
}

/// `Deployment crs/web`, `every Deployment in crs matching app=web`, `any ...`, with how it is
/// judged when not by the kind's rules.
pub fn describe(namespace: &str, t: &ReadyTarget) -> String {
    let kind = t.kind_shown();
    let scoped = t.known.is_none_or(|k| k.namespaced);
    let mut out = match (&t.select, scoped) {
        (JobSelect::Name(n), true) => format!("{kind} {namespace}/{n}"),
        (JobSelect::Name(n), false) => format!("{kind} {n}"),
        (JobSelect::Selector(s), scoped) => format!(
            "{} {kind} {}matching {s}",
            if t.any { "any" } else { "every" },
            if scoped {
                format!("in {namespace} ")
            } else {
                String::new()
            }
        ),
    };
    match &t.judge {
        ReadyJudge::Rules => {}
        ReadyJudge::Condition { kind, status } => {
            out.push_str(&format!(" (condition {kind}={status})"))
        }
        ReadyJudge::JsonPath(j) => match &j.equals {
            Some(v) => out.push_str(&format!(" ({} = {v})", j.path)),
            None => out.push_str(&format!(" ({})", j.path)),
        },
    }
    out
}

impl Probe for ReadyProbe {
    fn describe(&self) -> String {
        describe(&self.kube.namespace, &self.target)
    }

    fn prepare(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.lookup().await {
                Err(e) if e.is_usage() => Err(e.to_string()),
                _ => Ok(()),
            }
        })
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(async move {
            let r = match self.resolve().await {
                Ok(r) => r,
                Err(c) => return c,
            };
            let client = r.client(&self.kube);
            let ctx = |kube| Ctx {
                kube,
                res: &r.resource,
                rules: &self.rules,
                role: &self.role,
            };
            match &self.target.select {
                JobSelect::Name(name) => match client.get(&r.resource, name).await {
                    Ok(Some(obj)) => self.judge(&obj),
                    Ok(None) => Check::Pending(
                        Observation::new(Class::NotFound, "not found")
                            .cause(format!(
                                "{} does not exist yet",
                                describe(&self.kube.namespace, &self.target)
                            ))
                            .fix(format!(
                                "see what creates it: kubectl get {}{} {}",
                                r.entry.plural,
                                if r.entry.group.is_empty() {
                                    String::new()
                                } else {
                                    format!(".{}", r.entry.group)
                                },
                                if r.namespaced() {
                                    format!("-n {}", self.kube.namespace)
                                } else {
                                    String::new()
                                }
                            )),
                    ),
                    Err(e) => Check::Pending(api::observe(&e, &ctx(&client))),
                },
                JobSelect::Selector(sel) => match client.list(&r.resource, sel).await {
                    Ok(list) => kstatus::judge_selection(
                        &list.items,
                        sel,
                        &r.entry.kind,
                        self.target.any,
                        |o| self.judge(o),
                    ),
                    Err(e) => Check::Pending(api::observe(&e, &ctx(&client))),
                },
            }
        })
    }
}
