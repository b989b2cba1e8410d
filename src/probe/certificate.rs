//! `wait-certificate NAME`: cert-manager Certificate Ready for its current generation, and its
//! Secret issued.
//!
//! Ready only when the `Ready` condition is `True`, its `observedGeneration` (when present)
//! equals `metadata.generation` (a Ready left over from before a spec change describes the old
//! certificate), and the Secret named by `spec.secretName` exists with non-empty `tls.crt` and
//! `tls.key` (unless `--no-secret-check`). A Certificate never fails for good in cert-manager's
//! model (issuance is retried with backoff), so this probe never answers [`Check::Failed`]: the
//! wait ends Ready or at the deadline, and the report then shows the latest CertificateRequest.
//!
//! The judgement is two pure functions on `serde_json::Value` ([`judge`] and [`judge_secret`]);
//! the probe only fetches. Secret values are looked at for emptiness and nothing else.

use std::time::Duration;

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::{CERTIFICATE_REQUESTS, CERTIFICATES, Kube, Resource, SECRETS};
use crate::net::text::printable;
use crate::rbac::Rule;

/// The annotation (and, on some setups, label) cert-manager puts on a CertificateRequest to name
/// its Certificate.
const CERTIFICATE_NAME_KEY: &str = "cert-manager.io/certificate-name";
/// The annotation holding a CertificateRequest's revision.
const REVISION_KEY: &str = "cert-manager.io/certificate-revision";
/// Longest condition message kept in a state line (the full text goes to the cause).
const STATE_MESSAGE_MAX: usize = 200;
/// Longest message kept in a cause or report line.
const CAUSE_MESSAGE_MAX: usize = 500;
/// Bound on any other word the server sends (a reason, a time, a name), escaped to one line.
const FIELD_MAX: usize = 200;

/// Waits for a Certificate and its Secret.
#[derive(Debug)]
pub struct CertificateProbe {
    kube: Kube,
    name: String,
    secret_name: Option<String>,
    check_secret: bool,
    rules: Vec<Rule>,
    role: String,
    /// Whether the last check read the Certificate (the report then reads its requests).
    seen: bool,
}

impl CertificateProbe {
    /// A probe for Certificate `name` in the client's namespace; `secret_name` is the Secret
    /// the user expects (`--secret-name`); `check_secret` is false with `--no-secret-check`.
    pub fn new(
        kube: Kube,
        name: String,
        secret_name: Option<String>,
        check_secret: bool,
        rules: Vec<Rule>,
        role: String,
    ) -> Self {
        CertificateProbe {
            kube,
            name,
            secret_name,
            check_secret,
            rules,
            role,
            seen: false,
        }
    }

    fn ctx<'a>(&'a self, res: &'a Resource) -> Ctx<'a> {
        Ctx {
            kube: &self.kube,
            res,
            rules: &self.rules,
            role: &self.role,
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            namespace: &self.kube.namespace,
            name: &self.name,
            secret_name: self.secret_name.as_deref(),
            check_secret: self.check_secret,
        }
    }

    /// The Secret's name came from `spec.secretName`: make the forbidden hint able to name it
    /// (without `--secret-name`, the rules have no secrets rule).
    fn learn_secret(&mut self, secret: &str) {
        let known = self
            .rules
            .iter()
            .any(|r| r.resource == "secrets" && r.names.iter().any(|n| n == secret));
        if !known {
            self.rules.retain(|r| r.resource != "secrets");
            self.rules.push(Rule {
                group: String::new(),
                resource: "secrets".into(),
                names: vec![secret.to_string()],
                verbs: &["get"],
                why: "check that the issued Secret exists with tls.crt and tls.key",
                optional: false,
                cluster: false,
            });
        }
    }

    async fn check_once(&mut self) -> Check {
        self.seen = false;
        let cert = match self.kube.get(&CERTIFICATES, &self.name).await {
            Ok(Some(cert)) => cert,
            Ok(None) => return Check::Pending(not_found(&self.names())),
            Err(e) => return Check::Pending(api::observe(&e, &self.ctx(&CERTIFICATES))),
        };
        self.seen = true;
        let (secret, detail) = match judge(&cert, &self.names()) {
            Judged::Pending(obs) => return Check::Pending(obs),
            Judged::Ready {
                secret: None,
                detail,
            } => return Check::Ready(detail),
            Judged::Ready {
                secret: Some(secret),
                detail,
            } => (secret, detail),
        };
        self.learn_secret(&secret);
        let got = self.kube.get(&SECRETS, &secret).await;
        let check = match got {
            Ok(s) => judge_secret(s.as_ref(), &self.kube.namespace, &secret, detail),
            Err(e) => {
                let mut obs = api::observe(&e, &self.ctx(&SECRETS));
                obs.state = format!("Ready, but {}", obs.state);
                if e.class == Class::Forbidden {
                    obs = obs.fix(
                        "or, where kwait may not read Secrets, pass --no-secret-check (only the Certificate's Ready condition is checked then)",
                    );
                }
                Check::Pending(obs)
            }
        };
        // No watch on the Secret: the Role kwait prints grants only `get` on it (least
        // privilege), and none is needed, since cert-manager writes the Secret before it sets
        // Ready=True (and sets Ready=False when the Secret goes), so the Certificate's own watch
        // wakes the waiter; the safety re-check covers a Secret restored by hand.
        check
    }

    async fn explain_requests(&self) -> Vec<(String, String)> {
        if !self.seen {
            return Vec::new();
        }
        let label = "request".to_string();
        match self.kube.list(&CERTIFICATE_REQUESTS, "").await {
            Ok(list) => vec![(label, latest_request(&list.items, &self.name))],
            Err(e) if e.class == Class::Forbidden => {
                let who = api::parse_forbidden(&e.message)
                    .user
                    .unwrap_or_else(|| "kwait's identity".to_string());
                vec![(
                    label,
                    format!(
                        "not readable: {who} may not list certificaterequests.cert-manager.io in namespace {} (optional; grant list on them to see the latest request here, or: kubectl get certificaterequests -n {})",
                        self.kube.namespace, self.kube.namespace
                    ),
                )]
            }
            Err(e) => vec![(
                label,
                format!(
                    "could not be read: {}",
                    crate::net::text::printable(&e.message, CAUSE_MESSAGE_MAX)
                ),
            )],
        }
    }
}

impl Probe for CertificateProbe {
    fn describe(&self) -> String {
        let object = format!("Certificate {}/{}", self.kube.namespace, self.name);
        match (&self.secret_name, self.check_secret) {
            (_, false) => format!("{object} (Secret not checked)"),
            (Some(s), true) => format!("{object} (Secret {s})"),
            (None, true) => object,
        }
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(self.check_once())
    }

    fn explain(&mut self) -> BoxFuture<'_, Vec<(String, String)>> {
        Box::pin(self.explain_requests())
    }
}

/// What the judgement needs besides the object.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The Certificate's name.
    pub name: &'a str,
    /// `--secret-name`, when given.
    pub secret_name: Option<&'a str>,
    /// False with `--no-secret-check`.
    pub check_secret: bool,
}

impl Names<'_> {
    fn object(&self) -> String {
        format!("Certificate {}/{}", self.namespace, self.name)
    }

    fn describe_cmd(&self) -> String {
        format!(
            "kubectl describe certificate {} -n {}",
            self.name, self.namespace
        )
    }
}

/// The Certificate's judgement.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    /// Not ready (the observation says why).
    Pending(Observation),
    /// Ready for its current generation; `secret` names the Secret still to check (`None` with
    /// `--no-secret-check`); `detail` completes "ready after ...".
    Ready {
        /// The Secret to check.
        secret: Option<String>,
        /// The ready line.
        detail: String,
    },
}

/// One status condition.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cond {
    kind: String,
    status: String,
    reason: String,
    message: String,
    since: Option<String>,
    observed_generation: Option<i64>,
}

fn conditions(obj: &Value) -> Vec<Cond> {
    // The server's words, escaped here once (a reason may hold a newline or ESC that would
    // forge a line); the message is escaped (and cut to the caller's bound) in `Cond::text`.
    let s = |c: &Value, k: &str| {
        let v = c.get(k).and_then(Value::as_str).unwrap_or_default();
        if k == "message" {
            v.to_string()
        } else {
            printable(v, FIELD_MAX)
        }
    };
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Cond {
                    kind: s(c, "type"),
                    status: s(c, "status"),
                    reason: s(c, "reason"),
                    message: s(c, "message"),
                    since: c
                        .get("lastTransitionTime")
                        .and_then(Value::as_str)
                        .map(|t| printable(t, FIELD_MAX)),
                    observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Cond {
    /// [`Cond::text`] for a report, with when the condition last changed.
    fn text_since(&self) -> String {
        let since = self
            .since
            .as_deref()
            .map(|t| format!(" (since {t})"))
            .unwrap_or_default();
        format!("{}{since}", self.text(CAUSE_MESSAGE_MAX))
    }

    /// `Ready=False DoesNotExist: Issuing certificate as Secret does not exist`.
    fn text(&self, max: usize) -> String {
        let mut t = format!(
            "{}={}",
            self.kind,
            if self.status.is_empty() {
                "?"
            } else {
                &self.status
            }
        );
        if !self.reason.is_empty() {
            t.push(' ');
            t.push_str(&self.reason);
        }
        if !self.message.is_empty() {
            t.push_str(": ");
            t.push_str(&crate::net::text::printable(&self.message, max));
        }
        t
    }
}

/// Judges a Certificate object: Ready=True for its current generation, and (with the secret
/// check) which Secret to look at next.
pub fn judge(cert: &Value, n: &Names<'_>) -> Judged {
    let object = n.object();
    let spec_secret = cert
        .pointer("/spec/secretName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    // The name goes into a request path: only a valid Secret name (a DNS-1123 subdomain), so
    // that whoever wrote the Certificate cannot choose what kwait GETs (`../`, `?watch=1`).
    if let Some(bad) = spec_secret
        .filter(|s| n.check_secret && crate::plan::check_object_name("spec.secretName", s).is_err())
    {
        let shown = printable(bad, FIELD_MAX);
        return Judged::Pending(
            Observation::new(
                Class::NotReady,
                format!("spec.secretName {shown} is not a valid Secret name"),
            )
            .cause(format!(
                "{object} names Secret {shown}, which is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit); kwait does not request it"
            ))
            .fix(format!(
                "fix spec.secretName on the Certificate: {}",
                n.describe_cmd()
            )),
        );
    }
    let conds = conditions(cert);
    let ready = conds.iter().find(|c| c.kind == "Ready");
    let issuing = conds.iter().find(|c| c.kind == "Issuing");
    let generation = cert.pointer("/metadata/generation").and_then(Value::as_i64);
    let status = cert.get("status");
    let attempts = status
        .and_then(|s| s.get("failedIssuanceAttempts"))
        .and_then(Value::as_i64)
        .filter(|a| *a > 0);
    let time = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| printable(t, FIELD_MAX))
    };

    // Parts shared by the state line (stable: reasons, messages, attempts) and the cause (times).
    let mut extra_state = String::new();
    if let Some(i) = issuing {
        extra_state.push_str(&format!("; {}", i.text(STATE_MESSAGE_MAX)));
    }
    if let Some(a) = attempts {
        extra_state.push_str(&format!("; failed issuance attempts: {a}"));
    }
    let mut facts: Vec<String> = Vec::new();
    if let Some(r) = ready {
        facts.push(format!("cert-manager reports {}", r.text_since()));
    }
    if let Some(i) = issuing {
        facts.push(i.text_since());
    }
    if let Some(a) = attempts {
        facts.push(format!(
            "{a} failed issuance attempt{}{}; cert-manager retries with backoff",
            if a == 1 { "" } else { "s" },
            time("lastFailureTime")
                .map(|t| format!(", the last at {t}"))
                .unwrap_or_default()
        ));
    } else if let Some(t) = time("lastFailureTime") {
        facts.push(format!("the last issuance failed at {t}"));
    }
    let dates = [("notAfter", "expires"), ("renewalTime", "renewal due")]
        .iter()
        .filter_map(|(k, word)| time(k).map(|t| format!("{word} {t}")))
        .collect::<Vec<_>>()
        .join(", ");
    if !dates.is_empty() {
        facts.push(format!("the current certificate: {dates}"));
    }
    let facts = facts.join("; ");
    let with_facts = |cause: String| {
        if facts.is_empty() {
            cause
        } else {
            format!("{cause}. {facts}")
        }
    };
    let fixes = |obs: Observation| {
        obs.fix(n.describe_cmd()).fix(format!(
            "kubectl get certificaterequests,orders,challenges -n {} (and the issuer's status: kubectl describe issuer,clusterissuer)",
            n.namespace
        ))
    };

    if n.check_secret {
        match (spec_secret, n.secret_name) {
            (None, _) => {
                return Judged::Pending(
                    Observation::new(Class::NotReady, "spec.secretName is not set")
                        .cause(format!("{object} names no Secret (spec.secretName is empty), so there is nothing to mount"))
                        .fix(format!("set spec.secretName on the Certificate: {}", n.describe_cmd())),
                );
            }
            (Some(spec), Some(given)) if spec != given => {
                return Judged::Pending(
                    Observation::new(
                        Class::NotReady,
                        format!("spec.secretName is {spec}, not {given} (--secret-name)"),
                    )
                    .cause(with_facts(format!(
                        "{object} writes its certificate to Secret {spec}, but kwait was told (--secret-name) to expect {given}; it checks the Secret the Certificate names, and will not call this ready"
                    )))
                    .fix(format!(
                        "pass --secret-name {spec} (and grant get on that Secret), or change the Certificate's spec.secretName to {given}"
                    )),
                );
            }
            _ => {}
        }
    }

    let Some(ready) = ready else {
        let no_status = status
            .and_then(Value::as_object)
            .is_none_or(|s| s.is_empty());
        let state = if no_status {
            "no status yet".to_string()
        } else {
            format!("no Ready condition yet{extra_state}")
        };
        return Judged::Pending(fixes(
            Observation::new(Class::NotReady, state)
                .cause(with_facts(format!(
                    "cert-manager has not reported on {object} yet: its controller may not be running or not have reached it, or the Certificate may be for another cert-manager instance"
                )))
                .fix("check that cert-manager runs: kubectl get pods -n cert-manager ; kubectl logs -n cert-manager deploy/cert-manager"),
        ));
    };

    let stale = match (ready.observed_generation, generation) {
        (Some(o), Some(g)) if o != g => Some((o, g)),
        _ => None,
    };
    let gen_text = |(o, g): (i64, i64)| {
        format!(
            "observedGeneration {o} {} generation {g}",
            if o < g { "<" } else { "!=" }
        )
    };

    if ready.status != "True" {
        let stale_note = stale
            .map(|s| format!(" ({})", gen_text(s)))
            .unwrap_or_default();
        let state = format!("{}{stale_note}{extra_state}", ready.text(STATE_MESSAGE_MAX));
        let why = match ready.reason.as_str() {
            "DoesNotExist" | "MissingData" | "Issuing" | "InProgress" | "Pending" => {
                "cert-manager is issuing it"
            }
            "Expired" | "Renewing" | "ManuallyTriggered" => "cert-manager is re-issuing it",
            _ => "cert-manager has not (yet) issued it for its current spec",
        };
        return Judged::Pending(fixes(
            Observation::new(Class::NotReady, state).cause(with_facts(format!(
                "{object} is not Ready: {why}. A Certificate does not fail for good (cert-manager retries issuance with backoff), so kwait waits until its deadline"
            ))),
        ));
    }

    if let Some(s) = stale {
        return Judged::Pending(fixes(
            Observation::new(
                Class::NotReady,
                format!("Ready=True but stale ({}){extra_state}", gen_text(s)),
            )
            .cause(with_facts(format!(
                "{object}'s spec changed (generation {}), and its Ready=True was set for generation {}: it describes the certificate issued for the old spec, until cert-manager processes the new one",
                s.1, s.0
            )))
            .fix("check that cert-manager runs and processes this Certificate: kubectl get pods -n cert-manager"),
        ));
    }

    let mut detail = format!(
        "{object} is Ready{}",
        generation
            .map(|g| format!(" (generation {g})"))
            .unwrap_or_default()
    );
    if !dates.is_empty() {
        detail.push_str(&format!(", {dates}"));
    }
    if !n.check_secret {
        detail.push_str("; Secret not checked (--no-secret-check)");
        return Judged::Ready {
            secret: None,
            detail,
        };
    }
    Judged::Ready {
        secret: spec_secret.map(str::to_string),
        detail,
    }
}

/// Judges the Secret of a Ready Certificate: exists (`Some`), with non-empty `tls.crt` and
/// `tls.key`. `ready_detail` is the Certificate's ready line.
pub fn judge_secret(
    secret: Option<&Value>,
    namespace: &str,
    name: &str,
    ready_detail: String,
) -> Check {
    let object = format!("Secret {namespace}/{name}");
    let Some(secret) = secret else {
        return Check::Pending(
            Observation::new(Class::NotFound, format!("Ready, but {object} not found"))
                .cause(format!(
                    "cert-manager reports the Certificate Ready, but {object} (its spec.secretName) does not exist: it was deleted, or is not written yet; cert-manager re-issues a Certificate whose Secret is missing"
                ))
                .fix(format!(
                    "kubectl describe certificate -n {namespace} ; kubectl get events -n {namespace} --field-selector involvedObject.name={name}"
                )),
        );
    };
    let has = |key: &str| super::secret::key_state(secret, key);
    let keys = ["tls.crt", "tls.key"];
    let missing: Vec<&str> = keys.iter().copied().filter(|k| has(k).is_none()).collect();
    let empty: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| has(k) == Some(false))
        .collect();
    if missing.is_empty() && empty.is_empty() {
        return Check::Ready(format!("{ready_detail}; {object} has tls.crt and tls.key"));
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("has no {}", missing.join(" and ")));
    }
    if !empty.is_empty() {
        parts.push(format!("has an empty {}", empty.join(" and ")));
    }
    Check::Pending(
        Observation::new(
            Class::NotReady,
            format!("Ready, but {object} {}", parts.join(" and ")),
        )
        .cause(format!(
            "cert-manager reports the Certificate Ready, but {object} lacks the issued key pair: it is being written, or something else owns or overwrote that Secret"
        ))
        .fix(format!(
            "check that no other tool writes {object}: kubectl get secret {name} -n {namespace} -o yaml (the annotations name the Certificate that owns it)"
        )),
    )
}

fn not_found(n: &Names<'_>) -> Observation {
    Observation::new(Class::NotFound, "not found")
        .cause(format!(
            "{} does not exist yet; whatever creates it (a Helm chart, an Ingress or Gateway annotated for cert-manager) has not done so",
            n.object()
        ))
        .fix(format!(
            "kubectl get certificates -n {} (is the name right?)",
            n.namespace
        ))
}

/// The newest CertificateRequest of Certificate `name` among `items`, with its Approved,
/// Denied, InvalidRequest and Ready conditions, as one report line.
pub fn latest_request(items: &[Value], name: &str) -> String {
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let owned = |cr: &&Value| {
        let meta = cr.get("metadata");
        let by_key = ["annotations", "labels"].iter().any(|f| {
            meta.and_then(|m| m.get(f))
                .and_then(|m| m.get(CERTIFICATE_NAME_KEY))
                .and_then(Value::as_str)
                == Some(name)
        });
        let by_owner = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                refs.iter().any(|r| {
                    r.get("kind").and_then(Value::as_str) == Some("Certificate")
                        && r.get("name").and_then(Value::as_str) == Some(name)
                })
            });
        by_key || by_owner
    };
    let key = |cr: &&Value| {
        let revision = cr
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION_KEY))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0);
        (
            revision,
            str_at(cr, "/metadata/creationTimestamp").unwrap_or_default(),
            str_at(cr, "/metadata/name").unwrap_or_default(),
        )
    };
    let mine: Vec<&Value> = items.iter().filter(owned).collect();
    let Some(cr) = mine.iter().copied().max_by_key(|cr| key(cr)) else {
        return format!(
            "no CertificateRequest for Certificate {name} yet (cert-manager has not started an issuance)"
        );
    };
    let conds = conditions(cr);
    let mut parts = Vec::new();
    for kind in ["Approved", "Denied", "InvalidRequest", "Ready"] {
        if let Some(c) = conds.iter().find(|c| c.kind == kind) {
            parts.push(if kind == "Approved" && c.status == "True" {
                "Approved=True".to_string()
            } else {
                c.text(CAUSE_MESSAGE_MAX)
            });
        }
    }
    let mut line = format!(
        "{}: {}",
        str_at(cr, "/metadata/name").map_or_else(|| "?".into(), |n| printable(&n, FIELD_MAX)),
        if parts.is_empty() {
            "no conditions yet (not approved, not processed by an issuer)".to_string()
        } else {
            parts.join("; ")
        }
    );
    if let Some(t) = str_at(cr, "/status/failureTime") {
        line.push_str(&format!(" (failed at {})", printable(&t, FIELD_MAX)));
    }
    if mine.len() > 1 {
        line.push_str(&format!(" [newest of {}]", mine.len()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CRT: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tZmFrZS1jcnQ=";
    const KEY: &str = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tc2VjcmV0LWtleS00MjQy";

    fn names() -> Names<'static> {
        Names {
            namespace: "crs",
            name: "ai-ops-agent-cert",
            secret_name: None,
            check_secret: true,
        }
    }

    /// A Certificate as cert-manager v1.x serves it, with `status` replaced.
    fn cert(generation: i64, status: Value) -> Value {
        let mut c = json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {
                "name": "ai-ops-agent-cert",
                "namespace": "crs",
                "generation": generation,
                "resourceVersion": "4711",
                "uid": "0b8f3c1e-58c0-4c52-9c6d-2b1f1f3d6a10",
                "creationTimestamp": "2026-03-01T10:00:00Z"
            },
            "spec": {
                "secretName": "ai-ops-agent-tls",
                "dnsNames": ["ai-ops-agent.crs.svc"],
                "issuerRef": {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"}
            }
        });
        if !status.is_null() {
            c["status"] = status;
        }
        c
    }

    fn ready_true(observed: i64) -> Value {
        json!({
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Ready",
                "message": "Certificate is up to date and has not expired",
                "lastTransitionTime": "2026-03-01T10:00:05Z",
                "observedGeneration": observed
            }],
            "notBefore": "2026-03-01T10:00:04Z",
            "notAfter": "2026-05-30T10:00:04Z",
            "renewalTime": "2026-04-30T10:00:04Z",
            "revision": 1
        })
    }

    fn pending(j: Judged) -> Observation {
        match j {
            Judged::Pending(o) => o,
            other => panic!("expected pending, got {other:?}"),
        }
    }

    fn pending_check(c: Check) -> Observation {
        match c {
            Check::Pending(o) => o,
            other => panic!("expected pending, got {other:?}"),
        }
    }

    #[test]
    fn ready_true_for_the_current_generation_names_the_secret_to_check() {
        let j = judge(&cert(2, ready_true(2)), &names());
        let Judged::Ready { secret, detail } = j else {
            panic!("{j:?}")
        };
        assert_eq!(secret.as_deref(), Some("ai-ops-agent-tls"));
        assert_eq!(
            detail,
            "Certificate crs/ai-ops-agent-cert is Ready (generation 2), expires 2026-05-30T10:00:04Z, renewal due 2026-04-30T10:00:04Z"
        );
    }

    #[test]
    fn ready_true_without_observed_generation_is_ready() {
        let mut s = ready_true(1);
        s["conditions"][0]
            .as_object_mut()
            .unwrap()
            .remove("observedGeneration");
        assert!(matches!(judge(&cert(3, s), &names()), Judged::Ready { .. }));
    }

    #[test]
    fn ready_true_for_an_older_generation_is_stale() {
        let obs = pending(judge(&cert(2, ready_true(1)), &names()));
        assert_eq!(obs.class, Class::NotReady);
        assert_eq!(
            obs.state,
            "Ready=True but stale (observedGeneration 1 < generation 2)"
        );
        let cause = obs.cause.unwrap();
        assert!(cause.contains("spec changed (generation 2)"), "{cause}");
        assert!(cause.contains("expires 2026-05-30T10:00:04Z"), "{cause}");
    }

    #[test]
    fn stale_with_reissuing_shows_the_issuing_condition() {
        let mut s = ready_true(1);
        s["conditions"].as_array_mut().unwrap().push(json!({
            "type": "Issuing", "status": "True", "reason": "Reissuing",
            "message": "Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/old\"",
            "lastTransitionTime": "2026-03-02T09:00:00Z", "observedGeneration": 2
        }));
        let obs = pending(judge(&cert(2, s), &names()));
        assert_eq!(
            obs.state,
            "Ready=True but stale (observedGeneration 1 < generation 2); Issuing=True Reissuing: Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/old\""
        );
    }

    #[test]
    fn ready_false_does_not_exist_while_issuing() {
        let s = json!({
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                 "message": "Issuing certificate as Secret does not exist",
                 "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 1},
                {"type": "Issuing", "status": "True", "reason": "DoesNotExist",
                 "message": "Issuing certificate as Secret does not exist",
                 "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 1}
            ],
            "nextPrivateKeySecretName": "ai-ops-agent-cert-x7k2p"
        });
        let obs = pending(judge(&cert(1, s), &names()));
        assert_eq!(
            obs.state,
            "Ready=False DoesNotExist: Issuing certificate as Secret does not exist; Issuing=True DoesNotExist: Issuing certificate as Secret does not exist"
        );
        let cause = obs.cause.unwrap();
        assert!(cause.contains("cert-manager is issuing it"), "{cause}");
        assert!(cause.contains("does not fail for good"), "{cause}");
        assert!(cause.contains("(since 2026-03-01T10:00:00Z)"), "{cause}");
        assert!(
            obs.fix
                .iter()
                .any(|f| f == "kubectl describe certificate ai-ops-agent-cert -n crs")
        );
    }

    #[test]
    fn ready_false_after_failed_issuance_counts_attempts_in_the_state_and_times_in_the_cause() {
        let s = |attempts: i64, at: &str| {
            json!({
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                     "message": "Issuing certificate as Secret does not exist",
                     "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 1},
                    {"type": "Issuing", "status": "False", "reason": "Failed",
                     "message": "The certificate request has failed to complete and will be retried: Failed to wait for order resource \"ai-ops-agent-cert-1-123\" to become ready: order is in \"errored\" state: Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited",
                     "lastTransitionTime": at, "observedGeneration": 1}
                ],
                "failedIssuanceAttempts": attempts,
                "lastFailureTime": at
            })
        };
        let one = pending(judge(&cert(1, s(1, "2026-03-01T10:01:00Z")), &names()));
        assert!(
            one.state
                .starts_with("Ready=False DoesNotExist: Issuing certificate as Secret does not exist; Issuing=False Failed: The certificate request has failed"),
            "{}",
            one.state
        );
        assert!(
            one.state.ends_with("; failed issuance attempts: 1"),
            "{}",
            one.state
        );
        assert!(!one.state.contains("2026-03-01T10:01:00Z"));
        let cause = one.cause.unwrap();
        assert!(
            cause.contains("1 failed issuance attempt, the last at 2026-03-01T10:01:00Z"),
            "{cause}"
        );
        let two = pending(judge(&cert(1, s(2, "2026-03-01T11:01:00Z")), &names()));
        assert!(two.state.ends_with("; failed issuance attempts: 2"));
        // The state changes with the attempt count and only with it, not with the times.
        let again = pending(judge(&cert(1, s(2, "2026-03-01T12:00:00Z")), &names()));
        assert_eq!(two.state, again.state);
    }

    #[test]
    fn ready_false_reasons_are_shown_as_they_are() {
        for (reason, message) in [
            ("Failed", "Certificate issuance failed"),
            (
                "Expired",
                "Certificate expired on Sun, 01 Mar 2026 10:00:00 UTC",
            ),
            (
                "IncorrectIssuer",
                "Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/x\"",
            ),
        ] {
            let s = json!({"conditions": [{"type": "Ready", "status": "False", "reason": reason,
                "message": message, "observedGeneration": 1}]});
            let obs = pending(judge(&cert(1, s), &names()));
            assert_eq!(obs.state, format!("Ready=False {reason}: {message}"));
        }
    }

    #[test]
    fn ready_false_for_an_older_generation_says_so() {
        let s = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Issuing",
            "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1}]});
        let obs = pending(judge(&cert(3, s), &names()));
        assert_eq!(
            obs.state,
            "Ready=False Issuing: Issuing certificate as Secret does not exist (observedGeneration 1 < generation 3)"
        );
    }

    #[test]
    fn issuing_true_without_ready_yet() {
        let s = json!({"conditions": [{"type": "Issuing", "status": "True", "reason": "Requested",
            "message": "Created new CertificateRequest resource \"ai-ops-agent-cert-1\"",
            "observedGeneration": 1}]});
        let obs = pending(judge(&cert(1, s), &names()));
        assert_eq!(
            obs.state,
            "no Ready condition yet; Issuing=True Requested: Created new CertificateRequest resource \"ai-ops-agent-cert-1\""
        );
    }

    #[test]
    fn no_status_is_pending_not_ready() {
        for status in [Value::Null, json!({}), json!({"conditions": []})] {
            let obs = pending(judge(&cert(1, status.clone()), &names()));
            let want = if status.get("conditions").is_some() {
                "no Ready condition yet"
            } else {
                "no status yet"
            };
            assert_eq!(obs.state, want);
            assert!(obs.cause.unwrap().contains("cert-manager has not reported"));
        }
    }

    #[test]
    fn ready_unknown_and_multiline_messages_stay_one_line() {
        let s = json!({"conditions": [{"type": "Ready", "status": "Unknown", "reason": "",
            "message": "first line\n  second\tline"}]});
        let obs = pending(judge(&cert(1, s), &names()));
        assert_eq!(obs.state, "Ready=Unknown: first line second line");
        let long = "x".repeat(1000);
        let s = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Failed", "message": long}]});
        let obs = pending(judge(&cert(1, s), &names()));
        assert!(obs.state.chars().count() < 250, "{}", obs.state);
    }

    #[test]
    fn a_different_secret_name_than_given_is_pending() {
        let n = Names {
            secret_name: Some("other-tls"),
            ..names()
        };
        let obs = pending(judge(&cert(1, ready_true(1)), &n));
        assert_eq!(
            obs.state,
            "spec.secretName is ai-ops-agent-tls, not other-tls (--secret-name)"
        );
        let same = Names {
            secret_name: Some("ai-ops-agent-tls"),
            ..names()
        };
        assert!(matches!(
            judge(&cert(1, ready_true(1)), &same),
            Judged::Ready { .. }
        ));
    }

    #[test]
    fn no_secret_check_is_ready_on_the_condition_alone() {
        let n = Names {
            check_secret: false,
            secret_name: Some("whatever"),
            ..names()
        };
        let Judged::Ready { secret, detail } = judge(&cert(1, ready_true(1)), &n) else {
            panic!()
        };
        assert_eq!(secret, None);
        assert!(detail.ends_with("; Secret not checked (--no-secret-check)"));
    }

    #[test]
    fn ready_but_secret_missing_is_pending() {
        let obs = pending_check(judge_secret(None, "crs", "ai-ops-agent-tls", "d".into()));
        assert_eq!(obs.class, Class::NotFound);
        assert_eq!(
            obs.state,
            "Ready, but Secret crs/ai-ops-agent-tls not found"
        );
    }

    #[test]
    fn ready_but_secret_without_tls_key_is_pending_and_shows_no_value() {
        let s = json!({"kind": "Secret", "type": "kubernetes.io/tls",
            "data": {"tls.crt": CRT, "ca.crt": CRT}});
        let c = judge_secret(Some(&s), "crs", "x", "d".into());
        assert!(!format!("{c:?}").contains(CRT));
        let obs = pending_check(c);
        assert_eq!(obs.state, "Ready, but Secret crs/x has no tls.key");
        let s = json!({"data": {"tls.crt": "", "tls.key": KEY}});
        let obs = pending_check(judge_secret(Some(&s), "crs", "x", "d".into()));
        assert_eq!(obs.state, "Ready, but Secret crs/x has an empty tls.crt");
        let obs = pending_check(judge_secret(Some(&json!({})), "crs", "x", "d".into()));
        assert_eq!(
            obs.state,
            "Ready, but Secret crs/x has no tls.crt and tls.key"
        );
    }

    #[test]
    fn ready_and_secret_complete_is_ready() {
        let s = json!({"kind": "Secret", "type": "kubernetes.io/tls",
            "data": {"tls.crt": CRT, "tls.key": KEY, "ca.crt": ""}});
        let c = judge_secret(Some(&s), "crs", "x", "Certificate crs/c is Ready".into());
        assert_eq!(
            c,
            Check::Ready("Certificate crs/c is Ready; Secret crs/x has tls.crt and tls.key".into())
        );
        assert!(!format!("{c:?}").contains(KEY));
    }

    fn request(name: &str, revision: &str, by: &str, conditions: Value) -> Value {
        let mut meta = json!({"name": name, "namespace": "crs",
            "creationTimestamp": "2026-03-01T10:00:00Z",
            "annotations": {"cert-manager.io/certificate-revision": revision}});
        match by {
            "annotation" => {
                meta["annotations"]["cert-manager.io/certificate-name"] = json!("ai-ops-agent-cert")
            }
            "label" => {
                meta["labels"] = json!({"cert-manager.io/certificate-name": "ai-ops-agent-cert"})
            }
            "owner" => {
                meta["ownerReferences"] = json!([{"apiVersion": "cert-manager.io/v1",
                "kind": "Certificate", "name": "ai-ops-agent-cert", "uid": "u", "controller": true}])
            }
            _ => {}
        }
        json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
               "metadata": meta, "spec": {"request": "LS0t"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn the_newest_request_of_this_certificate_is_shown_with_its_conditions() {
        let failing = json!([
            {"type": "Approved", "status": "True", "reason": "cert-manager.io",
             "message": "Certificate request has been approved by cert-manager.io"},
            {"type": "Ready", "status": "False", "reason": "Pending",
             "message": "Referenced \"Issuer\" not found: issuer.cert-manager.io \"letsencrypt\" not found"}
        ]);
        let items = vec![
            request("ai-ops-agent-cert-1", "1", "owner", json!([])),
            request("ai-ops-agent-cert-2", "2", "annotation", failing.clone()),
            request("other-cert-9", "9", "none", failing.clone()),
        ];
        assert_eq!(
            latest_request(&items, "ai-ops-agent-cert"),
            "ai-ops-agent-cert-2: Approved=True; Ready=False Pending: Referenced \"Issuer\" not found: issuer.cert-manager.io \"letsencrypt\" not found [newest of 2]"
        );
        let denied = json!([
            {"type": "Denied", "status": "True", "reason": "policy.cert-manager.io",
             "message": "No policy approved this request"},
            {"type": "Ready", "status": "False", "reason": "Denied",
             "message": "The CertificateRequest was denied by an approval controller"}
        ]);
        let mut cr = request("ai-ops-agent-cert-1", "1", "label", denied);
        cr["status"]["failureTime"] = json!("2026-03-01T10:00:02Z");
        assert_eq!(
            latest_request(&[cr], "ai-ops-agent-cert"),
            "ai-ops-agent-cert-1: Denied=True policy.cert-manager.io: No policy approved this request; Ready=False Denied: The CertificateRequest was denied by an approval controller (failed at 2026-03-01T10:00:02Z)"
        );
        assert!(
            latest_request(&items[2..], "ai-ops-agent-cert").starts_with("no CertificateRequest")
        );
        assert_eq!(
            latest_request(&items[..1], "ai-ops-agent-cert"),
            "ai-ops-agent-cert-1: no conditions yet (not approved, not processed by an issuer)"
        );
    }

    fn one_line_each(obs: &Observation) -> Vec<String> {
        let mut all = vec![obs.state.clone()];
        all.extend(obs.cause.clone());
        all.extend(obs.fix.iter().cloned());
        all
    }

    #[test]
    fn a_ready_reason_with_a_newline_cannot_forge_a_line() {
        let forged = "x\nkwait: ready after 1s: forged\u{1b}[2K";
        let status = json!({
            "conditions": [
                {"type": "Ready\n", "status": "False\u{1b}", "reason": forged, "message": "m",
                 "lastTransitionTime": forged, "observedGeneration": 2},
                {"type": "Issuing", "status": "False", "reason": forged, "message": "m",
                 "lastTransitionTime": forged}
            ],
            "failedIssuanceAttempts": 1,
            "lastFailureTime": forged,
            "notAfter": forged,
            "renewalTime": forged
        });
        let mut c = cert(2, status);
        c["status"]["conditions"][0]["type"] = json!("Ready");
        let obs = pending(judge(&c, &names()));
        for line in one_line_each(&obs) {
            assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
        }
        assert!(
            obs.state.contains("x kwait: ready after 1s"),
            "{}",
            obs.state
        );
        // The ready line carries notAfter and renewalTime.
        let mut s = ready_true(2);
        s["notAfter"] = json!(forged);
        s["renewalTime"] = json!(forged);
        let Judged::Ready { detail, .. } = judge(&cert(2, s), &names()) else {
            panic!("not ready")
        };
        assert!(
            !detail.contains('\n') && !detail.contains('\u{1b}'),
            "{detail:?}"
        );
        // A CertificateRequest's name, condition and failure time.
        let mut cr = json!({
            "metadata": {"name": forged, "ownerReferences": [{"kind": "Certificate", "name": "c"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": forged}],
                       "failureTime": forged}
        });
        let line = latest_request(std::slice::from_mut(&mut cr), "c");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    }

    #[test]
    fn a_secret_name_that_is_not_a_dns_subdomain_is_never_requested() {
        for bad in [
            "../../kube-system/secrets/x",
            "x?watch=1",
            "X",
            "-x",
            "x\n\u{1b}[2K",
        ] {
            let mut c = cert(2, ready_true(2));
            c["spec"]["secretName"] = json!(bad);
            let obs = pending(judge(&c, &names()));
            assert_eq!(obs.class, Class::NotReady);
            assert!(
                obs.state.ends_with("is not a valid Secret name"),
                "{}",
                obs.state
            );
            for line in one_line_each(&obs) {
                assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
            }
        }
        let mut c = cert(2, ready_true(2));
        c["spec"]["secretName"] = json!("a.b-c");
        assert!(matches!(
            judge(&c, &names()),
            Judged::Ready {
                secret: Some(_),
                ..
            }
        ));
    }
}
