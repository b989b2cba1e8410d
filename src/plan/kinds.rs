//! The resource types `wait-ready` knows without asking the server: the built-in ones and the
//! custom ones these stacks use (cert-manager, Flux), by plural, singular, kind and the short
//! names kubectl prints. They let `--dry-run` name the RBAC a wait needs while contacting
//! nothing; at run time the server's discovery decides (and must agree: tests/discovery.rs).
//! Any other type is given as `PLURAL.GROUP` for `--dry-run=rbac`, or found by discovery.

/// A resource type known here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// API group ("" = core).
    pub group: &'static str,
    /// Plural, as in URLs and RBAC rules.
    pub plural: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

/// (group, plural, kind, namespaced, short names).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

const TABLE: &[Row] = &[
    ("", "pods", "Pod", true, &["po"]),
    ("", "services", "Service", true, &["svc"]),
    (
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
    ),
    ("", "persistentvolumes", "PersistentVolume", false, &["pv"]),
    ("", "configmaps", "ConfigMap", true, &["cm"]),
    ("", "secrets", "Secret", true, &[]),
    ("", "serviceaccounts", "ServiceAccount", true, &["sa"]),
    ("", "namespaces", "Namespace", false, &["ns"]),
    ("", "nodes", "Node", false, &["no"]),
    (
        "",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
    ),
    ("apps", "deployments", "Deployment", true, &["deploy"]),
    ("apps", "statefulsets", "StatefulSet", true, &["sts"]),
    ("apps", "daemonsets", "DaemonSet", true, &["ds"]),
    ("apps", "replicasets", "ReplicaSet", true, &["rs"]),
    ("batch", "jobs", "Job", true, &[]),
    ("batch", "cronjobs", "CronJob", true, &["cj"]),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    ),
    (
        "apiregistration.k8s.io",
        "apiservices",
        "APIService",
        false,
        &[],
    ),
    (
        "storage.k8s.io",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
    ),
    (
        "policy",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ),
    ("networking.k8s.io", "ingresses", "Ingress", true, &["ing"]),
    (
        "cert-manager.io",
        "certificates",
        "Certificate",
        true,
        &["cert", "certs"],
    ),
    ("cert-manager.io", "issuers", "Issuer", true, &[]),
    (
        "cert-manager.io",
        "clusterissuers",
        "ClusterIssuer",
        false,
        &[],
    ),
    (
        "helm.toolkit.fluxcd.io",
        "helmreleases",
        "HelmRelease",
        true,
        &["hr"],
    ),
    (
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "Kustomization",
        true,
        &["ks"],
    ),
    (
        "source.toolkit.fluxcd.io",
        "gitrepositories",
        "GitRepository",
        true,
        &["gitrepo"],
    ),
    (
        "source.toolkit.fluxcd.io",
        "helmrepositories",
        "HelmRepository",
        true,
        &["helmrepo"],
    ),
    (
        "source.toolkit.fluxcd.io",
        "ocirepositories",
        "OCIRepository",
        true,
        &["ocirepo"],
    ),
    (
        "source.toolkit.fluxcd.io",
        "helmcharts",
        "HelmChart",
        true,
        &["hc"],
    ),
];

/// The type `name` names: a plural, singular, kind (any case) or short name of a known type,
/// optionally followed by `.GROUP` or `.VERSION.GROUP` (`deploy`, `Deployment`,
/// `deployments.apps`, `deployments.v1.apps`). `None` when it is not in the table.
pub fn known(name: &str) -> Option<Known> {
    let lower = name.to_ascii_lowercase();
    let (head, group) = match lower.split_once('.') {
        Some((h, rest)) => {
            // `.VERSION.GROUP`: drop a leading version (v1, v1beta2, ...).
            let group = match rest.split_once('.') {
                Some((v, g)) if is_version(v) => g,
                _ if is_version(rest) => "",
                _ => rest,
            };
            (h.to_string(), Some(group.to_string()))
        }
        None => (lower, None),
    };
    TABLE
        .iter()
        .find(|(g, plural, kind, _, short)| {
            group.as_deref().is_none_or(|want| want == *g)
                && (head == *plural
                    || head == kind.to_ascii_lowercase()
                    || short.contains(&head.as_str()))
        })
        .map(|&(group, plural, kind, namespaced, _)| Known {
            group,
            plural,
            kind,
            namespaced,
        })
}

/// `v1`, `v1beta2`, `v2alpha1`.
fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &rest[digits..];
    digits > 0
        && (tail.is_empty()
            || ["alpha", "beta"].iter().any(|q| {
                tail.strip_prefix(q)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            }))
}

/// `PLURAL.GROUP` (or `PLURAL.VERSION.GROUP`) of a type not in the table: its plural and group,
/// enough to name the RBAC it needs. `None` for a bare name.
pub fn qualified(name: &str) -> Option<(String, String)> {
    let (plural, rest) = name.split_once('.')?;
    let group = match rest.split_once('.') {
        Some((v, g)) if is_version(v) => g,
        _ => rest,
    };
    Some((plural.to_string(), group.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_singular_kind_and_short_names_find_the_type() {
        for name in [
            "deploy",
            "deployment",
            "Deployment",
            "deployments",
            "deployments.apps",
            "deployments.v1.apps",
        ] {
            assert_eq!(known(name).map(|k| k.plural), Some("deployments"), "{name}");
        }
        assert_eq!(known("hr").map(|k| k.group), Some("helm.toolkit.fluxcd.io"));
        assert_eq!(known("crd").map(|k| k.namespaced), Some(false));
        assert_eq!(
            known("pv").map(|k| (k.group, k.namespaced)),
            Some(("", false))
        );
        assert_eq!(known("pvc").map(|k| k.kind), Some("PersistentVolumeClaim"));
        assert_eq!(known("deployments.example.com"), None);
        assert_eq!(known("widgets"), None);
    }

    #[test]
    fn a_qualified_name_gives_plural_and_group_without_its_version() {
        assert_eq!(
            qualified("widgets.v1beta1.example.com"),
            Some(("widgets".into(), "example.com".into()))
        );
        assert_eq!(
            qualified("widgets.example.com"),
            Some(("widgets".into(), "example.com".into()))
        );
        assert_eq!(qualified("widgets"), None);
    }
}
