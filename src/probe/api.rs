//! What the Kubernetes probes share: turning an API failure into an [`Observation`] with its
//! own cause and fix (forbidden with the exact subject, verb and resource and the commands
//! that grant it; unauthorized; unreachable; DNS; TLS; CRD not installed; ...).

use crate::kube::discovery::DiscoveryError;
use crate::kube::{ApiError, Kube, Resource};
use crate::probe::{Class, Observation};
use crate::rbac::{self, Rule};

/// Where a request went, to word its failure.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The client (namespace, server, configuration source).
    pub kube: &'a Kube,
    /// The resource asked for.
    pub res: &'a Resource,
    /// The rules this wait needs (for the forbidden hint).
    pub rules: &'a [Rule],
    /// `--role-name`, or "" for kwait's own Role names ([`rbac::fix_role_name`]).
    pub role: &'a str,
}

/// The parts of an API server's forbidden message:
/// `secrets "x" is forbidden: User "system:serviceaccount:crs:default" cannot get resource "secrets" in API group "" in the namespace "crs"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forbidden {
    /// The subject, e.g. `system:serviceaccount:crs:default`.
    pub user: Option<String>,
    /// The verb refused.
    pub verb: Option<String>,
    /// The resource refused.
    pub resource: Option<String>,
}

/// Parses the subject, verb and resource out of a forbidden message; absent parts stay `None`.
pub fn parse_forbidden(msg: &str) -> Forbidden {
    let quoted_after = |marker: &str| -> Option<String> {
        let rest = &msg[msg.find(marker)? + marker.len()..];
        Some(rest[..rest.find('"')?].to_string())
    };
    let verb = msg.find("\" cannot ").and_then(|i| {
        let rest = &msg[i + "\" cannot ".len()..];
        rest.split_whitespace().next().map(str::to_string)
    });
    Forbidden {
        user: quoted_after("User \""),
        verb,
        resource: quoted_after("resource \""),
    }
}

/// Words a failed discovery (`wait-ready`, `wait-deleted`) as a check: a failed request as any
/// API failure, a type not served or a document not understood as pending, and a name that is
/// no type (found only after a transient failure at the start, when `prepare` could not say it)
/// as failed: waiting cannot help. `wait-deleted` words a type not served itself, before this.
pub fn discovery_failed(
    e: DiscoveryError,
    kube: &Kube,
    rules: &[Rule],
    role: &str,
) -> crate::probe::Check {
    use crate::probe::Check;
    match e {
        DiscoveryError::Api(e) => {
            // Discovery documents are readable by every authenticated user
            // (system:discovery); a failure here is the server's or the network's.
            let res = Resource {
                group: "",
                version: "v1",
                plural: "",
                kind: "discovery document",
            };
            let ctx = Ctx {
                kube,
                res: &res,
                rules,
                role,
            };
            Check::Pending(observe(&e, &ctx))
        }
        e => match e.pending() {
            Some(obs) => Check::Pending(obs),
            None => Check::Failed(
                Observation::new(Class::Other, e.to_string())
                    .fix("name the type with its group, e.g. certificates.cert-manager.io"),
            ),
        },
    }
}

/// Words an API failure.
pub fn observe(err: &ApiError, ctx: &Ctx<'_>) -> Observation {
    let kube = ctx.kube;
    let ns = &kube.namespace;
    let mut obs = match err.class {
        Class::Forbidden => return forbidden(err, ctx),
        Class::Unauthorized => Observation::new(Class::Unauthorized, "unauthorized (401)")
            .cause(format!(
                "the API server at {} refused kwait's credentials from {}: {}",
                kube.server, kube.source, err.message
            ))
            .fix("in a pod: check that the service account exists and its token is mounted (automountServiceAccountToken)")
            .fix(format!("from a shell: kubectl auth whoami --kubeconfig {}", kube.source)),
        Class::NotServed => {
            let (state, cause, fix) = if ctx.res.group == "cert-manager.io" {
                (
                    format!("{} is not served (is cert-manager installed?)", ctx.res.qualified()),
                    format!(
                        "cert-manager's CRDs are not installed in this cluster ({} is not served)",
                        ctx.res.qualified()
                    ),
                    "install cert-manager (with its CRDs), then check: kubectl api-resources --api-group=cert-manager.io"
                        .to_string(),
                )
            } else {
                (
                    format!("{} is not served", ctx.res.qualified()),
                    format!("the API server does not serve {}: {}", ctx.res.qualified(), err.message),
                    "check: kubectl api-resources".to_string(),
                )
            };
            Observation::new(Class::NotServed, state).cause(cause).fix(fix)
        }
        Class::Unreachable => Observation::new(Class::Unreachable, "API server unreachable")
            .cause(format!("cannot connect to the API server at {}: {}", kube.server, err.message))
            .fix(format!(
                "check the server address in {} and that network policies let this pod reach the API server",
                kube.source
            )),
        Class::Dns => Observation::new(Class::Dns, "API server name does not resolve")
            .cause(format!("the API server's host name in {} does not resolve: {}", kube.server, err.message))
            .fix("check the cluster's DNS and the server address in the kubeconfig"),
        Class::Tls => Observation::new(Class::Tls, "TLS with the API server failed")
            .cause(format!("TLS with the API server at {} failed: {}", kube.server, err.message))
            .fix(format!(
                "check that the CA in {} is the cluster's and the server name matches its certificate",
                kube.source
            )),
        Class::Timeout => Observation::new(Class::Timeout, "API server did not answer in time")
            .cause(format!("no answer from {} within --attempt-timeout: {}", kube.server, err.message)),
        Class::Reset => Observation::new(Class::Reset, "connection to the API server was reset")
            .cause(format!("the connection to {} broke: {}", kube.server, err.message)),
        Class::ServerError => Observation::new(
            Class::ServerError,
            format!("API server error {}", err.code.unwrap_or(500)),
        )
        .cause(format!(
            "the API server answered {}: {} (usually transient; kwait retries until its deadline)",
            err.code.unwrap_or(500),
            err.message
        )),
        Class::Throttled => Observation::new(Class::Throttled, "throttled by the API server (429)").cause(format!(
            "the API server asked kwait to slow down{}: {}",
            err.retry_after
                .map(|d| format!(" (Retry-After {}s, honoured)", d.as_secs()))
                .unwrap_or_default(),
            err.message
        )),
        Class::NotFound => Observation::new(Class::NotFound, "not found").cause(format!(
            "{} {ns}/… does not exist: {}",
            ctx.res.kind, err.message
        )),
        Class::Gone | Class::NotReady | Class::Other => {
            let cause = match err.code {
                // A 2xx answer that was not what was asked for: the message says what it was.
                Some(c) if (200..300).contains(&c) => format!("{} (API server {})", err.message, kube.server),
                code => format!(
                    "the API server at {} answered {}: {}",
                    kube.server,
                    code.map_or_else(|| "with an error".to_string(), |c| c.to_string()),
                    err.message
                ),
            };
            Observation::new(Class::Other, format!("unexpected answer: {}", err.message)).cause(cause)
        }
    };
    obs.retry_after = err.retry_after;
    obs
}

fn forbidden(err: &ApiError, ctx: &Ctx<'_>) -> Observation {
    let f = parse_forbidden(&err.message);
    let ns = &ctx.kube.namespace;
    let resource = f
        .resource
        .clone()
        .unwrap_or_else(|| ctx.res.plural.to_string());
    let rule = ctx
        .rules
        .iter()
        .find(|r| r.resource == resource)
        .or_else(|| ctx.rules.iter().find(|r| r.resource == ctx.res.plural));
    let mut obs = Observation::new(Class::Forbidden, format!("forbidden: {}", err.message)).cause(format!(
        "{} may not {} {} in namespace {ns} (RBAC); kwait keeps trying in case the Role is still being created",
        f.user.as_deref().unwrap_or("kwait's identity"),
        f.verb.as_deref().unwrap_or("read"),
        resource,
    ));
    if let Some(rule) = rule {
        let what = if rule.names.is_empty() {
            format!("{} {}", rule.verbs.join(" and "), resource)
        } else {
            format!("{} on this {}", rule.verbs.join(" and "), ctx.res.kind)
        };
        let who = if f
            .user
            .as_deref()
            .is_some_and(|u| u.starts_with("system:serviceaccount:"))
        {
            "that service account"
        } else {
            "that user"
        };
        obs = obs.fix(format!("grant {what} to {who}, e.g."));
        // One Role per rule (kubectl create role takes one set of verbs), named after it: two
        // hints never name one Role with different rules.
        let chosen = Some(ctx.role).filter(|r| !r.is_empty());
        let role = rbac::fix_role_name(rule, chosen);
        for cmd in rbac::fix_commands(&role, ns, f.user.as_deref(), rule) {
            obs = obs.fix(cmd);
        }
    }
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_yield_subject_verb_and_resource() {
        let f = parse_forbidden(
            "secrets \"litellm-api-user\" is forbidden: User \"system:serviceaccount:crs:default\" cannot get resource \"secrets\" in API group \"\" in the namespace \"crs\"",
        );
        assert_eq!(f.user.as_deref(), Some("system:serviceaccount:crs:default"));
        assert_eq!(f.verb.as_deref(), Some("get"));
        assert_eq!(f.resource.as_deref(), Some("secrets"));
    }

    #[test]
    fn odd_forbidden_messages_do_not_panic() {
        for m in ["", "forbidden", "User \"", "\" cannot ", "resource \"x"] {
            let _ = parse_forbidden(m);
        }
        assert_eq!(parse_forbidden("forbidden"), Forbidden::default());
    }
}
