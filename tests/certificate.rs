//! `kwait wait-certificate` end to end: the built binary against testkit's fake API server
//! serving cert-manager's types.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use common::Running;
use serde_json::{Value, json};
use testkit::{Allow, ApiServer, KubeconfigOpts, Rule};

const NS: &str = "crs";
const CERT: &str = "ai-ops-agent-cert";
const SECRET: &str = "ai-ops-agent-tls";

/// A fresh temporary directory for one test.
fn tempdir(test: &str) -> PathBuf {
    common::scratch(&format!("cert-{test}"))
}

/// Starts kwait with a kubeconfig for `api` (as `token`, when given) and `args`, in the clean
/// environment of [`common::kwait`] (termination log in `dir`).
fn spawn(api: &ApiServer, dir: &std::path::Path, token: Option<&str>, args: &[&str]) -> Running {
    let kc = api.write_kubeconfig(
        dir,
        KubeconfigOpts {
            token,
            namespace: Some(NS),
            ..Default::default()
        },
    );
    let mut cmd = common::kwait(dir);
    cmd.arg("--kubeconfig").arg(&kc).args(["-n", NS]).args(args);
    common::spawn(cmd)
}

fn finish(child: Running) -> (i32, String) {
    let r = child.finish(Duration::from_secs(60));
    (r.code.unwrap_or(-1), r.stderr)
}

/// Waits (up to 8 s) until `cond` holds; panics with `what` otherwise.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn certificate(api: &ApiServer) {
    api.create(
        "certificates",
        NS,
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": CERT, "namespace": NS},
            "spec": {
                "secretName": SECRET,
                "dnsNames": ["ai-ops-agent.crs.svc"],
                "issuerRef": {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"}
            }
        }),
    );
}

fn cond(kind: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": generation})
}

fn set_conditions(api: &ApiServer, conditions: Value) {
    api.patch_status(
        "certificates",
        NS,
        CERT,
        json!({"status": {"conditions": conditions}}),
    );
}

fn issuing(api: &ApiServer) {
    set_conditions(
        api,
        json!([
            cond(
                "Ready",
                "False",
                "DoesNotExist",
                "Issuing certificate as Secret does not exist",
                1
            ),
            cond(
                "Issuing",
                "True",
                "DoesNotExist",
                "Issuing certificate as Secret does not exist",
                1
            )
        ]),
    );
}

fn ready(api: &ApiServer, observed: i64) {
    api.patch_status(
        "certificates",
        NS,
        CERT,
        json!({"status": {
            "conditions": [cond("Ready", "True", "Ready", "Certificate is up to date and has not expired", observed)],
            "notAfter": "2026-05-30T10:00:04Z",
            "renewalTime": "2026-04-30T10:00:04Z",
            "revision": 1
        }}),
    );
}

fn tls_secret(api: &ApiServer) {
    api.create(
        "secrets",
        NS,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": SECRET, "namespace": NS,
                         "annotations": {"cert-manager.io/certificate-name": CERT}},
            "data": {"tls.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
                     "tls.key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"}
        }),
    );
}

/// The Role `kwait --dry-run=rbac wait-certificate NAME --secret-name S` asks for.
/// A server with authentication on and a token "sa" holding exactly [`least_privilege`].
fn least_privilege_server(secret: bool) -> ApiServer {
    let api = ApiServer::builder().auth(true).start();
    api.add_token(
        "sa",
        "system:serviceaccount:crs:default",
        least_privilege(secret),
    );
    api
}

fn least_privilege(secret: bool) -> Allow {
    let mut rules = vec![
        Rule::new(&["get", "watch"], "certificates")
            .group("cert-manager.io")
            .names(&[CERT]),
    ];
    if secret {
        rules.push(Rule::new(&["get"], "secrets").group("").names(&[SECRET]));
    }
    Allow::rules(rules)
}

#[test]
fn ready_certificate_waits_for_its_secret() {
    let dir = tempdir("secret-later");
    let api = ApiServer::start();
    certificate(&api);
    issuing(&api);
    let child = spawn(
        &api,
        &dir,
        None,
        &["--timeout", "10s", "wait-certificate", CERT],
    );
    eventually("kwait to read the Certificate", || {
        api.count_for("get", "certificates") >= 1
    });
    ready(&api, 1);
    // The Certificate is Ready; kwait must now look for the Secret, and not be done.
    eventually("kwait to look for the Secret", || {
        api.count_for("get", "secrets") >= 1
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut child = child;
    assert!(child.is_running(), "kwait ended before the Secret existed");
    // What cert-manager does about a Ready Certificate whose Secret is missing: Ready=False,
    // issue, write the Secret, then Ready=True. The Certificate's watch wakes kwait.
    issuing(&api);
    tls_secret(&api);
    ready(&api, 1);
    let (code, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Ready=False DoesNotExist: Issuing certificate as Secret does not exist"),
        "{err}"
    );
    assert!(
        err.contains("Ready, but Secret crs/ai-ops-agent-tls not found"),
        "{err}"
    );
    assert!(
        err.contains("Secret crs/ai-ops-agent-tls has tls.crt and tls.key"),
        "{err}"
    );
    assert!(
        !err.contains("LS0tLS1CRUdJTi"),
        "a Secret value leaked: {err}"
    );
    // The Secret is not watched: the Role kwait prints only lets it get the Secret.
    assert_eq!(api.count_for("watch", "secrets"), 0);
}

#[test]
fn ready_certificate_with_its_secret_is_ready_under_least_privilege() {
    let dir = tempdir("least-privilege");
    let api = least_privilege_server(true);
    certificate(&api);
    ready(&api, 1);
    tls_secret(&api);
    let child = spawn(
        &api,
        &dir,
        Some("sa"),
        &["--timeout", "10s", "cert", CERT, "--secret-name", SECRET],
    );
    let (code, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Certificate crs/ai-ops-agent-cert is Ready (generation 1)"),
        "{err}"
    );
}

#[test]
fn stale_ready_after_a_spec_change_times_out_with_the_reason() {
    let dir = tempdir("stale");
    let api = ApiServer::start();
    certificate(&api);
    ready(&api, 1);
    tls_secret(&api);
    api.patch(
        "certificates",
        NS,
        CERT,
        json!({"spec": {"dnsNames": ["ai-ops-agent.crs.svc", "agent.example.com"]}}),
    );
    let child = spawn(
        &api,
        &dir,
        None,
        &["--timeout", "3s", "wait-certificate", CERT],
    );
    let (code, err) = finish(child);
    assert_eq!(code, 124, "{err}");
    assert!(err.contains("timed out after"), "{err}");
    assert!(
        err.contains("Ready=True but stale (observedGeneration 1 < generation 2)"),
        "{err}"
    );
    assert!(err.contains("spec changed (generation 2)"), "{err}");
    let log = std::fs::read_to_string(dir.join("termination-log")).unwrap_or_default();
    assert!(log.contains("stale"), "termination log: {log}");
}

#[test]
fn not_served_says_cert_manager_is_not_installed() {
    let dir = tempdir("not-served");
    let api = ApiServer::start();
    assert!(api.unregister_resource("certificates.cert-manager.io"));
    assert!(api.unregister_resource("certificaterequests.cert-manager.io"));
    let child = spawn(&api, &dir, None, &["--timeout", "2s", "certificate", CERT]);
    let (code, err) = finish(child);
    assert_eq!(code, 124, "{err}");
    assert!(
        err.contains(
            "cert-manager's CRDs are not installed in this cluster (certificates.cert-manager.io is not served)"
        ),
        "{err}"
    );
    assert!(!err.contains("  request"), "{err}");
}

#[test]
fn failing_certificate_request_reason_is_in_the_timeout_report() {
    let dir = tempdir("request");
    let api = ApiServer::start();
    certificate(&api);
    issuing(&api);
    let owner = json!([{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": CERT,
                        "uid": "u", "controller": true, "blockOwnerDeletion": true}]);
    for (name, revision) in [("ai-ops-agent-cert-1", "1"), ("ai-ops-agent-cert-2", "2")] {
        api.create(
            "certificaterequests",
            NS,
            json!({
                "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
                "metadata": {"name": name, "namespace": NS, "ownerReferences": owner,
                    "annotations": {"cert-manager.io/certificate-name": CERT,
                                    "cert-manager.io/certificate-revision": revision}},
                "spec": {"request": "LS0t", "issuerRef": {"name": "letsencrypt", "kind": "Issuer"}}
            }),
        );
    }
    api.patch_status(
        "certificaterequests",
        NS,
        "ai-ops-agent-cert-2",
        json!({"status": {"conditions": [
            {"type": "Approved", "status": "True", "reason": "cert-manager.io",
             "message": "Certificate request has been approved by cert-manager.io"},
            {"type": "Ready", "status": "False", "reason": "Pending",
             "message": "Referenced \"Issuer\" not found: issuer.cert-manager.io \"letsencrypt\" not found"}
        ]}}),
    );
    let child = spawn(&api, &dir, None, &["--timeout", "2s", "cert", CERT]);
    let (code, err) = finish(child);
    assert_eq!(code, 124, "{err}");
    assert!(
        err.contains(
            "ai-ops-agent-cert-2: Approved=True; Ready=False Pending: Referenced \"Issuer\" not found: issuer.cert-manager.io \"letsencrypt\" not found"
        ),
        "{err}"
    );
    assert!(err.contains("Ready=False DoesNotExist"), "{err}");
}

#[test]
fn unreadable_requests_and_secret_are_explained_with_the_exact_rules() {
    let dir = tempdir("forbidden");
    // Only the Certificate may be read: no Secret rule (no --secret-name), no list on requests.
    let api = least_privilege_server(false);
    certificate(&api);
    ready(&api, 1);
    tls_secret(&api);
    let child = spawn(&api, &dir, Some("sa"), &["--timeout", "2s", "cert", CERT]);
    let (code, err) = finish(child);
    assert_eq!(code, 124, "{err}");
    assert!(err.contains("Ready, but forbidden"), "{err}");
    assert!(
        err.contains(
            "kubectl create role kwait-ai-ops-agent-tls-c4107d0b --verb=get --resource=secrets --resource-name=ai-ops-agent-tls -n crs"
        ),
        "{err}"
    );
    assert!(err.contains("--no-secret-check"), "{err}");
    assert!(err.contains("not readable"), "{err}");
}

#[test]
fn no_secret_check_is_ready_without_reading_the_secret() {
    let dir = tempdir("no-secret-check");
    let api = least_privilege_server(false);
    certificate(&api);
    ready(&api, 1);
    let child = spawn(
        &api,
        &dir,
        Some("sa"),
        &["--timeout", "10s", "cert", CERT, "--no-secret-check"],
    );
    let (code, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Secret not checked"), "{err}");
    assert_eq!(api.count_for("get", "secrets"), 0);
}
