//! Plan target → probe (and, for Kubernetes objects, the watch that wakes the waiter), and the
//! one description of a target: the same text in a run's start, ready and report lines and in
//! `--dry-run`, with any URL password redacted (the HTTP probe's description, built on
//! `net::text::redact_url`).

use crate::kube::{self, CERTIFICATES, ConfigError, JOBS, Kube, SECRETS, Selector};
use crate::plan::{DryRun, JobSelect, Plan, Target};
use crate::probe::{self, Probe};
use crate::rbac;
use crate::waiter::Wake;

/// A target ready to be awaited.
pub struct Built {
    /// The probe.
    pub probe: Box<dyn Probe>,
    /// The watch that wakes the waiter (Kubernetes objects only).
    pub wake: Option<Wake>,
    /// What is awaited, for every line the reporter prints ([`describe`]).
    pub what: String,
}

/// Why a target could not be set up: bad configuration, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The Kubernetes client could not be built (kubeconfig, credentials, ...).
    #[error(transparent)]
    Kube(#[from] ConfigError),
    /// The HTTP client could not be built (`--ca-cert`, ...).
    #[error(transparent)]
    Http(#[from] probe::http::SetupError),
    /// The Redis TLS client could not be built (`--ca-cert`, ...).
    #[error(transparent)]
    Redis(#[from] probe::redis::SetupError),
}

/// The namespace a Kubernetes target is expected in before anything is contacted, decided as
/// the run decides it (client-go's order: `-n`, the kubeconfig context's, the pod's own);
/// `None` when no configuration decides it.
pub fn expected_namespace(plan: &Plan) -> Option<String> {
    kube::default_namespace(&plan.kube)
}

/// What `target` waits for, e.g. `Secret crs/litellm-api-user (keys: API_KEY)`: the one text a
/// run prints (with the namespace it connected to) and `--dry-run` prints (with the namespace
/// it expects). An HTTP target is described by its probe, which is built (contacting nothing)
/// to say it; a URL password never appears.
pub fn describe(target: &Target, namespace: &str) -> Result<String, TargetError> {
    Ok(match target {
        Target::Http(h) => probe::http::describe(h),
        Target::Tcp(t) => probe::tcp::TcpProbe::for_wait(t).describe(),
        Target::Redis(r) => probe::redis::describe(r),
        kube_target => describe_kube(kube_target, namespace).unwrap_or_default(),
    })
}

/// [`describe`] for the Kubernetes kinds (no client is needed to say it); `None` for the others.
fn describe_kube(target: &Target, ns: &str) -> Option<String> {
    Some(match target {
        Target::Secret { name, keys } if keys.is_empty() => format!("Secret {ns}/{name}"),
        Target::Secret { name, keys } => format!("Secret {ns}/{name} (keys: {})", keys.join(", ")),
        Target::Certificate {
            name,
            secret_name,
            check_secret,
        } => {
            let object = format!("Certificate {ns}/{name}");
            match (secret_name, check_secret) {
                (_, false) => format!("{object} (Secret not checked)"),
                (Some(s), true) => format!("{object} (Secret {s})"),
                (None, true) => object,
            }
        }
        Target::Job {
            select,
            all,
            if_missing,
        } => probe::job::Tracker::new(ns, select.clone(), *all, *if_missing).describe(),
        Target::Http(_) | Target::Tcp(_) | Target::Redis(_) => return None,
    })
}

/// Connects (for Kubernetes objects) and builds the probe, its watch and its description.
pub async fn build(plan: &Plan) -> Result<Built, TargetError> {
    let rules = rbac::rules(&plan.target);
    let role = rbac::role_name(&plan.target);
    let watch = |kube: &Kube, res, sel| kube.watch(res, sel, plan.interval, plan.max_interval);
    let kube_built = |probe: Box<dyn Probe>, wake: Wake, kube_ns: &str| Built {
        probe,
        wake: Some(wake),
        what: describe_kube(&plan.target, kube_ns).unwrap_or_default(),
    };
    Ok(match &plan.target {
        Target::Secret { name, keys } => {
            let kube = Kube::connect(&plan.kube, plan.attempt_timeout).await?;
            let ns = kube.namespace.clone();
            let wake = watch(&kube, &SECRETS, Selector::Name(name.clone()));
            let p = probe::secret::SecretProbe::new(kube, name.clone(), keys.clone(), rules, role);
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Certificate {
            name,
            secret_name,
            check_secret,
        } => {
            let kube = Kube::connect(&plan.kube, plan.attempt_timeout).await?;
            let ns = kube.namespace.clone();
            let wake = watch(&kube, &CERTIFICATES, Selector::Name(name.clone()));
            let p = probe::certificate::CertificateProbe::new(
                kube,
                name.clone(),
                secret_name.clone(),
                *check_secret,
                rules,
                role,
            );
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Job {
            select,
            all,
            if_missing,
        } => {
            let kube = Kube::connect(&plan.kube, plan.attempt_timeout).await?;
            let ns = kube.namespace.clone();
            let sel = match select {
                JobSelect::Name(n) => Selector::Name(n.clone()),
                JobSelect::Selector(s) => Selector::Labels(s.clone()),
            };
            let wake = watch(&kube, &JOBS, sel);
            let p = probe::job::JobProbe::new(kube, select.clone(), *all, *if_missing, rules, role);
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Http(h) => {
            let p = probe::http::HttpProbe::new(h)?;
            let what = p.describe();
            Built {
                probe: Box::new(p),
                wake: None,
                what,
            }
        }
        Target::Tcp(t) => {
            let p = probe::tcp::TcpProbe::for_wait(t);
            let what = p.describe();
            Built {
                probe: Box::new(p),
                wake: None,
                what,
            }
        }
        Target::Redis(r) => {
            let p = probe::redis::RedisProbe::new(r)?;
            let what = p.describe();
            Built {
                probe: Box::new(p),
                wake: None,
                what,
            }
        }
    })
}

/// What `--dry-run` prints: the target and the RBAC it needs in words, or (`--dry-run=rbac`) as
/// a Role. Contacts nothing.
pub fn dry_run(plan: &Plan, mode: DryRun) -> Result<String, TargetError> {
    let rules = rbac::rules(&plan.target);
    let role = rbac::role_name(&plan.target);
    let namespace = expected_namespace(plan);
    let no_secret_name = matches!(
        &plan.target,
        Target::Certificate {
            secret_name: None,
            check_secret: true,
            ..
        }
    );
    if mode == DryRun::Rbac {
        return Ok(rbac::role_yaml(
            &role,
            namespace.as_deref(),
            &rules,
            no_secret_name,
        ));
    }
    let ns = namespace.as_deref().unwrap_or("<default namespace>");
    let timeout = plan.timeout.map_or_else(
        || "no timeout".to_string(),
        |t| format!("timeout {}", crate::duration::format(t)),
    );
    let mut out = format!(
        "kwait: would wait for {}, {timeout}\n",
        describe(&plan.target, ns)?
    );
    if rules.is_empty() {
        out.push_str("kwait: RBAC needed: none (not a Kubernetes object)\n");
    }
    for r in &rules {
        let names = if r.names.is_empty() {
            String::new()
        } else {
            format!(" named {}", r.names.join(", "))
        };
        let group = if r.group.is_empty() {
            String::new()
        } else {
            format!(".{}", r.group)
        };
        out.push_str(&format!(
            "kwait: RBAC needed: {} on {}{group}{names} in namespace {ns}{}\n",
            r.verbs.join(", "),
            r.resource,
            if r.optional { " (optional)" } else { "" }
        ));
    }
    if no_secret_name {
        out.push_str(
            "kwait: RBAC needed: get on the Secret named by spec.secretName (pass --secret-name to name it)\n",
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::IfMissing;

    #[test]
    fn kube_targets_are_described_as_their_probes_describe_them() {
        let secret = Target::Secret {
            name: "s".into(),
            keys: vec!["A".into(), "B".into()],
        };
        assert_eq!(
            describe(&secret, "crs").unwrap(),
            "Secret crs/s (keys: A, B)"
        );
        let cert = Target::Certificate {
            name: "c".into(),
            secret_name: Some("tls".into()),
            check_secret: true,
        };
        assert_eq!(
            describe(&cert, "crs").unwrap(),
            "Certificate crs/c (Secret tls)"
        );
        let job = Target::Job {
            select: JobSelect::Selector("a=b".into()),
            all: true,
            if_missing: IfMissing::Succeed,
        };
        assert_eq!(
            describe(&job, "crs").unwrap(),
            "every Job in crs matching a=b (--if-missing succeed)"
        );
    }
}
