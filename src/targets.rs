//! Plan target → probe (and, for Kubernetes objects, the watch that wakes the waiter), and the
//! one description of a target: the same text in a run's start, ready and report lines and in
//! `--dry-run`, with any URL password redacted (the HTTP probe's description, built on
//! `net::text::redact_url`).

use crate::kube::{
    self, CERTIFICATES, CONFIGMAPS, ConfigError, ENDPOINT_SLICES, JOBS, Kube, SECRETS, SERVICES,
    Selector,
};
use crate::plan::{DryRun, JobSelect, Plan, Planned, Target};
use crate::probe::{self, Probe};
use crate::rbac;
use crate::waiter::Wake;
use std::sync::Arc;
use tokio::sync::Notify;

/// A target ready to be awaited.
pub struct Built {
    /// The probe.
    pub probe: Box<dyn Probe>,
    /// The watch that wakes the waiter (Kubernetes objects only).
    pub wake: Option<Wake>,
    /// What is awaited, for every line the reporter prints ([`describe`]).
    pub what: String,
    /// For a network target with `--service`: poked when the Service's ready endpoints change.
    pub hint: Option<Arc<Notify>>,
}

/// The clients that read Services' endpoints in this run, by namespace and name: a
/// `wait-service NAME` and the network targets with `--service NAME` share one, and so one
/// watch of the slices.
#[derive(Default)]
pub struct Shared {
    /// Each Service's client, by name (the client holds its namespace).
    services: Vec<(String, Kube)>,
}

impl Shared {
    /// The client for the Service `name` in `kube`'s namespace: the one made first, else `kube`.
    fn service(&mut self, kube: Kube, name: &str) -> Kube {
        let found =
            (self.services.iter()).find(|(n, k)| n == name && k.namespace == kube.namespace);
        match found {
            Some((_, k)) => k.clone(),
            None => {
                self.services.push((name.to_string(), kube.clone()));
                kube
            }
        }
    }
}

/// Why a target could not be set up: bad configuration, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The Kubernetes client could not be built (kubeconfig, credentials, ...).
    #[error(transparent)]
    Kube(#[from] ConfigError),
    /// A network probe's client could not be built (`--ca-cert`, ...).
    #[error(transparent)]
    Client(#[from] crate::net::tls::SetupError),
    /// `--dry-run=rbac` for a type only the server can name.
    #[error(
        "--dry-run=rbac cannot name the resource of {0:?} without asking the server: give the type as PLURAL.GROUP (e.g. widgets.example.com) or a known name (deploy, sts, pvc, hr, ...)"
    )]
    UnknownType(String),
}

/// The namespace each target is expected in before anything is contacted, decided as the run
/// decides it (client-go's order: `-n`, the kubeconfig context's, the pod's own); `None` when no
/// configuration decides it. The kubeconfig is read once for all the targets without a `-n` of
/// their own, not once per target.
pub fn expected_namespaces(plan: &Plan) -> Vec<Option<String>> {
    let mut shared: Option<Option<String>> = None;
    (plan.targets.iter())
        .map(|t: &Planned| match &t.namespace {
            Some(ns) => Some(ns.clone()),
            None => shared
                .get_or_insert_with(|| kube::default_namespace(&plan.kube))
                .clone(),
        })
        .collect()
}

/// A `-n` that cannot apply: the target is of a type the table knows to be cluster-scoped
/// (`wait-ready pv/data -n app` where a `pvc` was meant, or a Namespace). Said, not refused:
/// kubectl ignores it too, but a user who gave it may have meant another type. Types found only
/// through discovery are not known here, and are not said.
pub fn namespace_unused(plan: &Plan, t: &Planned) -> Option<String> {
    let known = match &t.target {
        Target::Ready(r) => r.known,
        Target::Deleted(d) => d.known,
        _ => None,
    };
    let known = known.filter(|k| !k.namespaced)?;
    let ns = t.namespace.as_ref().or(plan.kube.namespace.as_ref())?;
    Some(format!(
        "-n {} does not apply: {} is cluster-scoped, so the namespace is not used",
        crate::net::text::printable(ns, 63),
        known.kind
    ))
}

/// What `target` waits for, e.g. `Secret crs/litellm-api-user (keys: API_KEY)`: the one text a
/// run prints (with the namespace it connected to) and `--dry-run` prints (with the namespace
/// it expects). An HTTP target is described by its probe, which is built (contacting nothing)
/// to say it; a URL password never appears.
pub fn describe(target: &Target, namespace: &str) -> Result<String, TargetError> {
    Ok(match target {
        Target::Http(h) => woken(probe::http::describe(h), target, namespace),
        Target::Tcp(t) => woken(
            probe::tcp::TcpProbe::for_wait(t).describe(),
            target,
            namespace,
        ),
        Target::Postgres(p) => probe::postgres::describe(p),
        Target::Redis(r) => probe::redis::describe(r),
        Target::Nats(n) => probe::nats::describe(n),
        Target::Rabbitmq(r) => probe::rabbitmq::describe(r),
        Target::Mysql(m) => probe::mysql::describe(m),
        Target::Dns(d) => probe::dns::describe(d),
        Target::File(f) => probe::file::describe(f),
        kube_target => describe_kube(kube_target, namespace).unwrap_or_default(),
    })
}

/// A network target's description, with the Service that wakes it (`--service`).
fn woken(what: String, target: &Target, namespace: &str) -> String {
    match target.woken_by() {
        Some(service) => probe::behind::describe(&what, namespace, service),
        None => what,
    }
}

/// [`describe`] for the Kubernetes kinds (no client is needed to say it); `None` for the others.
fn describe_kube(target: &Target, ns: &str) -> Option<String> {
    Some(match target {
        Target::Secret { name, keys } if keys.is_empty() => format!("Secret {ns}/{name}"),
        Target::Secret { name, keys } => format!("Secret {ns}/{name} (keys: {})", keys.join(", ")),
        Target::ConfigMap { name, keys } if keys.is_empty() => format!("ConfigMap {ns}/{name}"),
        Target::ConfigMap { name, keys } => {
            format!("ConfigMap {ns}/{name} (keys: {})", keys.join(", "))
        }
        Target::Ready(r) => probe::ready::describe(ns, r),
        Target::Deleted(d) => probe::deleted::describe(ns, d),
        Target::Service {
            name,
            port,
            min_ready,
        } => probe::service::describe(ns, name, port.as_deref(), *min_ready),
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
        Target::Http(_) | Target::Tcp(_) | Target::Postgres(_) | Target::Redis(_) => return None,
        Target::Nats(_) | Target::Rabbitmq(_) => return None,
        Target::Mysql(_) | Target::Dns(_) | Target::File(_) => return None,
    })
}

/// Builds the probe of `t`, its watch and its description. A Kubernetes target gets a client
/// of its own from `kube` (the run's one connection: its own watches and namespace, the
/// credentials and connections shared); `kube` is `None` when no target is a Kubernetes object.
pub fn build(
    plan: &Plan,
    t: &Planned,
    kube: Option<&Kube>,
    shared: &mut Shared,
) -> Result<Built, TargetError> {
    let target = &t.target;
    let rules = rbac::rules(target);
    // The Role name a forbidden hint suggests is made per rule from this (`--role-name`, or
    // empty: kwait's own names), by `rbac::fix_role_name`.
    let role = plan.role_name.clone().unwrap_or_default();
    let kube_for = || -> Result<Kube, TargetError> {
        match kube {
            Some(k) => Ok(k.for_target(t.namespace.as_deref())),
            None => Err(ConfigError::Missing.into()),
        }
    };
    let watch = |kube: &Kube, res, sel| kube.watch(res, sel, plan.interval, t.max_interval);
    let kube_built = |probe: Box<dyn Probe>, wake: Wake, kube_ns: &str| Built {
        probe,
        wake: Some(wake),
        what: describe_kube(target, kube_ns).unwrap_or_default(),
        hint: None,
    };
    // A `wait-service` target in this run that reads the same Service's endpoints.
    let waited_service = |ns: &str, name: &str| {
        plan.targets.iter().any(|o| {
            matches!(&o.target, Target::Service { name: n, .. } if n == name)
                && o.namespace
                    .as_deref()
                    .or(kube.map(|k| k.namespace.as_str()))
                    == Some(ns)
        })
    };
    // A network target, woken by its Service's endpoints with `--service`.
    let mut network = |probe: Box<dyn Probe>| -> Result<Built, TargetError> {
        let Some(name) = target.woken_by() else {
            return Ok(local_built(probe));
        };
        let k = shared.service(kube_for()?, name);
        let shared_with = waited_service(&k.namespace, name);
        let (p, hint) = probe::behind::Behind::start(
            probe,
            probe::behind::Follow {
                kube: k,
                name: name.to_string(),
                shared: shared_with,
                interval: plan.interval,
            },
        );
        Ok(Built {
            what: p.describe(),
            probe: Box::new(p),
            wake: None,
            hint: Some(hint),
        })
    };
    Ok(match target {
        Target::Secret { name, keys } | Target::ConfigMap { name, keys } => {
            let res = if matches!(target, Target::Secret { .. }) {
                &SECRETS
            } else {
                &CONFIGMAPS
            };
            let kube = kube_for()?;
            let ns = kube.namespace.clone();
            let wake = watch(&kube, res, Selector::Name(name.clone()));
            let p =
                probe::secret::SecretProbe::new(kube, res, name.clone(), keys.clone(), rules, role);
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Ready(r) => {
            let kube = kube_for()?;
            let ns = kube.namespace.clone();
            // The watch starts once discovery found the type.
            let wake = kube.wake();
            let p = probe::ready::ReadyProbe::new(
                kube,
                (**r).clone(),
                rules,
                role,
                plan.interval,
                t.max_interval,
            );
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Deleted(d) => {
            let kube = kube_for()?;
            let ns = kube.namespace.clone();
            // The watch starts once discovery found the type.
            let wake = kube.wake();
            let p = probe::deleted::DeletedProbe::new(
                kube,
                (**d).clone(),
                rules,
                role,
                plan.interval,
                t.max_interval,
            );
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Service {
            name,
            port,
            min_ready,
        } => {
            let kube = shared.service(kube_for()?, name);
            let ns = kube.namespace.clone();
            let wake = watch(&kube, &SERVICES, Selector::Name(name.clone()));
            let label = format!("{}={name}", probe::service::SERVICE_NAME_LABEL);
            watch(&kube, &ENDPOINT_SLICES, Selector::Labels(label));
            let p = probe::service::ServiceProbe::new(
                kube,
                name.clone(),
                port.clone(),
                *min_ready,
                rules,
                role,
            );
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Certificate {
            name,
            secret_name,
            check_secret,
        } => {
            let kube = kube_for()?;
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
            let kube = kube_for()?;
            let ns = kube.namespace.clone();
            let sel = match select {
                JobSelect::Name(n) => Selector::Name(n.clone()),
                JobSelect::Selector(s) => Selector::Labels(s.clone()),
            };
            let wake = watch(&kube, &JOBS, sel);
            let p = probe::job::JobProbe::new(kube, select.clone(), *all, *if_missing, rules, role);
            kube_built(Box::new(p), wake, &ns)
        }
        Target::Http(h) => network(Box::new(probe::http::HttpProbe::new(h)?))?,
        Target::Tcp(t) => network(Box::new(probe::tcp::TcpProbe::for_wait(t)))?,
        Target::Redis(r) => local_built(Box::new(probe::redis::RedisProbe::new(r)?)),
        Target::Postgres(t) => local_built(Box::new(probe::postgres::PostgresProbe::new(t)?)),
        Target::Nats(n) => local_built(Box::new(probe::nats::NatsProbe::new(n)?)),
        Target::Rabbitmq(r) => local_built(Box::new(probe::rabbitmq::RabbitmqProbe::new(r)?)),
        Target::Mysql(m) => local_built(Box::new(probe::mysql::MysqlProbe::new(m)?)),
        Target::Dns(d) => local_built(Box::new(probe::dns::DnsProbe::new(d))),
        Target::File(f) => local_built(Box::new(probe::file::FileProbe::new(f))),
    })
}

/// A target no watch wakes (a network or file wait), described by its probe.
fn local_built(probe: Box<dyn Probe>) -> Built {
    Built {
        what: probe.describe(),
        probe,
        wake: None,
        hint: None,
    }
}

/// What `--dry-run` prints: every target and the RBAC they need in words, or
/// (`--dry-run=rbac`) as one Role per namespace with the rules of all targets merged.
pub fn dry_run(plan: &Plan, mode: DryRun) -> Result<String, TargetError> {
    // Each target's namespace as expected before anything is contacted, and its rules.
    let mut per_target = Vec::with_capacity(plan.targets.len());
    for (t, ns) in plan.targets.iter().zip(expected_namespaces(plan)) {
        let shown = ns.clone().unwrap_or_else(|| "<default namespace>".into());
        per_target.push((t, ns, shown, rbac::rules(&t.target)));
    }
    let no_secret_name = |t: &Target| {
        matches!(
            t,
            Target::Certificate {
                secret_name: None,
                check_secret: true,
                ..
            }
        )
    };
    let unknown = plan.targets.iter().find_map(|t| match &t.target {
        Target::Ready(r) if rbac::ready_resource(r).is_none() => Some(r.kind.clone()),
        Target::Deleted(d) if rbac::deleted_resource(d).is_none() => Some(d.kind.clone()),
        _ => None,
    });
    if mode == DryRun::Rbac {
        if let Some(kind) = unknown {
            return Err(TargetError::UnknownType(kind));
        }
        // One Role per namespace that needs rules, in the order the targets name them, and one
        // ClusterRole for cluster-scoped types: keyed by (cluster-scoped, namespace). Each is
        // named after its merged rules (`rbac::role_name`), or `--role-name`.
        type Doc = ((bool, Option<String>), Vec<rbac::Rule>, bool);
        let mut roles: Vec<Doc> = Vec::new();
        for (t, ns, _, rules) in &per_target {
            for rule in rules {
                let key = (rule.cluster, ns.clone().filter(|_| !rule.cluster));
                match roles.iter_mut().find(|r| r.0 == key) {
                    Some(r) => {
                        r.1.push(rule.clone());
                        r.2 |= no_secret_name(&t.target);
                    }
                    None => roles.push((key, vec![rule.clone()], no_secret_name(&t.target))),
                }
            }
        }
        // Events on kwait's own pod: in the pod's namespace (src/events.rs).
        let events = plan.events.then(|| crate::events::rbac_scope(&plan.kube));
        if let Some(scope) = &events {
            let key = (false, scope.namespace.clone());
            match roles.iter_mut().find(|r| r.0 == key) {
                Some(r) => r.1.push(rbac::events_rule()),
                None => roles.push((key, vec![rbac::events_rule()], false)),
            }
        }
        let chosen = plan.role_name.as_deref();
        if roles.is_empty() {
            let first = &per_target[0];
            return Ok(rbac::role_yaml(
                &rbac::role_name(&[], chosen),
                first.1.as_deref(),
                &[],
                false,
            ));
        }
        let docs: Vec<String> = roles
            .into_iter()
            .map(|((cluster, ns), rules, note)| {
                let rules = rbac::merge(rules);
                let name = rbac::role_name(&rules, chosen);
                let doc = rbac::role_yaml(&name, ns.as_deref(), &rules, note);
                match &events {
                    Some(s) if !cluster && s.namespace == ns => format!("{}{doc}", s.comment()),
                    _ => doc,
                }
            })
            .collect();
        return Ok(docs.join("---\n"));
    }
    let timeout = plan.timeout.map_or_else(
        || "no timeout".to_string(),
        |t| format!("timeout {}", crate::duration::format(t)),
    );
    let mut out = if let [(t, _, ns, _)] = per_target.as_slice() {
        format!(
            "kwait: would wait for {}, {timeout}\n",
            describe(&t.target, ns)?
        )
    } else {
        let mut out = format!(
            "kwait: would wait for {} targets at once, {timeout}:\n",
            per_target.len()
        );
        for (i, (t, _, ns, _)) in per_target.iter().enumerate() {
            out.push_str(&format!(
                "kwait:   {}. {}\n",
                i + 1,
                describe(&t.target, ns)?
            ));
        }
        out
    };
    if unknown.is_none() && per_target.iter().all(|(_, _, _, rules)| rules.is_empty()) {
        out.push_str("kwait: RBAC needed: none (not a Kubernetes object)\n");
    }
    // The rules merged per namespace, as --dry-run=rbac grants them.
    let mut namespaces: Vec<&str> = Vec::new();
    for (_, _, ns, _) in &per_target {
        if !namespaces.contains(&ns.as_str()) {
            namespaces.push(ns);
        }
    }
    for ns in namespaces {
        let rules: Vec<rbac::Rule> = (per_target.iter())
            .filter(|(_, _, n, _)| n == ns)
            .flat_map(|(_, _, _, rules)| rules.iter().cloned())
            .collect();
        for r in rbac::merge(rules) {
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
            let scope = if r.cluster {
                "cluster-wide (a ClusterRole)".to_string()
            } else {
                format!("in namespace {ns}")
            };
            out.push_str(&format!(
                "kwait: RBAC needed: {} on {}{group}{names} {scope}{}\n",
                r.verbs.join(", "),
                r.resource,
                if r.optional { " (optional)" } else { "" }
            ));
        }
    }
    if plan.events {
        out.push_str(&crate::events::rbac_scope(&plan.kube).lines());
    }
    if per_target
        .iter()
        .any(|(t, _, _, _)| no_secret_name(&t.target))
    {
        out.push_str(
            "kwait: RBAC needed: get on the Secret named by spec.secretName (pass --secret-name to name it)\n",
        );
    }
    for (t, _, _, _) in &per_target {
        if let Some(note) = namespace_unused(plan, t) {
            out.push_str(&format!("kwait: note: {note}\n"));
        }
    }
    // Files the options name that are not here: the pod the arguments are for may have them.
    for (t, _, _, _) in &per_target {
        for (arg, path) in t.target.files() {
            if !path.exists() {
                out.push_str(&format!(
                    "kwait: note: {arg} {} does not exist here; the container must have it when it runs\n",
                    crate::net::text::printable(&path.display().to_string(), 200)
                ));
            }
        }
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
