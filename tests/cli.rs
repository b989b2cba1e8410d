//! The command line: bad input gets one line naming the argument and exit code 2, never a panic;
//! help and version work; `--dry-run` contacts nothing.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn bad_invocations_exit_2_with_one_line_naming_the_problem() {
    let dir = scratch("bad");
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "this: [is not: a kubeconfig").unwrap();
    let empty_ctx = dir.join("ctx");
    std::fs::write(
        &empty_ctx,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: \"\"\n",
    )
    .unwrap();
    let api = ApiServer::start();
    let kc = api.write_kubeconfig(&dir, KubeconfigOpts::default());
    let kc = kc.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["wait-secret", "Bad_Name"], "NAME"),
        (
            vec!["wait-http", "http://web/", "--service", "Web_1"],
            "--service",
        ),
        (vec!["wait-tcp", "web:80", "--service", ""], "--service"),
        (vec!["wait-secret", ""], "NAME"),
        (vec!["wait-secret", "x-"], "NAME"),
        (vec!["wait-secret", "s", "--key", ""], "--key"),
        (vec!["wait-secret", "s", "--key", "a/b"], "--key"),
        (vec!["--timeout", "5x", "wait-secret", "s"], "--timeout"),
        (vec!["--timeout", "-1s", "wait-secret", "s"], "--timeout"),
        (vec!["--timeout", "abc", "wait-secret", "s"], "--timeout"),
        (vec!["--interval", "0", "wait-secret", "s"], "--interval"),
        (
            vec![
                "--interval",
                "5s",
                "--max-interval",
                "1s",
                "wait-secret",
                "s",
            ],
            "--max-interval",
        ),
        (
            vec!["--attempt-timeout", "0s", "wait-secret", "s"],
            "--attempt-timeout",
        ),
        (
            vec!["--log-format", "yaml", "wait-secret", "s"],
            "--log-format",
        ),
        (
            vec!["-n", "Not_A_Namespace", "wait-secret", "s"],
            "--namespace",
        ),
        (
            vec!["--dry-run=everything", "wait-secret", "s"],
            "--dry-run",
        ),
        (vec!["wait-secret", "s", "--frobnicate"], "--frobnicate"),
        (
            vec![
                "--role-name",
                "My_Role",
                "--dry-run=rbac",
                "wait-secret",
                "s",
            ],
            "--role-name",
        ),
        (vec!["--role-name", "x-", "wait-secret", "s"], "--role-name"),
        (vec!["wait-secret"], "<NAME>"),
        (vec!["wait-nothing", "x"], "wait-nothing"),
        (vec!["wait-job", "j", "-l", "a=b"], "--selector"),
        (vec!["wait-job", "-l", "a in b"], "--selector"),
        (
            vec!["wait-job", "j", "--if-missing", "maybe"],
            "--if-missing",
        ),
        (
            vec!["wait-certificate", "c", "--secret-name", "UPPER"],
            "--secret-name",
        ),
        (vec!["-q", "-v", "wait-secret", "s"], "--quiet"),
        (
            vec![
                "--kubeconfig",
                "/nonexistent/kubeconfig",
                "wait-secret",
                "s",
            ],
            "/nonexistent/kubeconfig",
        ),
        (
            vec![
                "--kubeconfig",
                garbage.to_str().unwrap(),
                "wait-secret",
                "s",
            ],
            "garbage",
        ),
        (
            vec!["--kubeconfig", kc, "--context", "nope", "wait-secret", "s"],
            "context \"nope\" not found",
        ),
        (
            vec![
                "--kubeconfig",
                empty_ctx.to_str().unwrap(),
                "wait-secret",
                "s",
            ],
            "kubeconfig",
        ),
    ];
    assert!(cases.len() >= 20);
    for (args, names) in cases {
        let r = run_in(&dir, &args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?} printed more than one line:\n{}",
            r.stderr
        );
        assert!(lines[0].starts_with("kwait: "), "{args:?}: {}", r.stderr);
        assert!(
            lines[0].contains(names),
            "{args:?}: {:?} does not name {names:?}",
            lines[0]
        );
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}

#[test]
fn no_configuration_at_all_is_a_usage_error() {
    let dir = scratch("noconfig");
    let r = run_in(&dir, &["wait-secret", "s"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "kwait: no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config)\n"
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let dir = scratch("help");
    let r = run_in(&dir, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout
            .contains("kwait wait-secret litellm-api-user --key API_KEY"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("124 timed out"), "{}", r.stdout);
    assert!(r.stdout.contains("[env: KWAIT_TIMEOUT=]"), "{}", r.stdout);
    let r = run_in(&dir, &["wait-secret", "--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--key <KEY>"), "{}", r.stdout);
}

#[test]
fn version_names_the_commit() {
    let dir = scratch("version");
    let r = run_in(&dir, &["--version"]);
    assert_eq!(r.code, Some(0));
    let v = r.stdout.trim();
    assert!(
        v.starts_with(&format!("kwait {} (", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    assert!(v.ends_with(')') && !v.contains("()"), "{v}");
}

#[test]
fn dry_run_prints_the_plan_and_rbac_and_contacts_nothing() {
    let dir = scratch("dry");
    // A kubeconfig pointing at a closed port: dry-run must not care.
    let r = run_in(
        &dir,
        &[
            "--kubeconfig",
            "/nonexistent",
            "-n",
            "crs",
            "--dry-run",
            "wait-secret",
            "litellm-api-user",
            "--key",
            "API_KEY",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "kwait: would wait for Secret crs/litellm-api-user (keys: API_KEY), timeout 5m0s\n\
         kwait: RBAC needed: get, watch on secrets named litellm-api-user in namespace crs\n\
         kwait: RBAC for Events on kwait's pod (optional; --no-events drops it): create, patch on events.events.k8s.io in namespace crs\n\
         kwait: note: Events go to the pod's own namespace, not known here (POD_NAMESPACE is unset): the run's namespace is assumed\n"
    );
    let r = run_in(
        &dir,
        &[
            "-n",
            "crs",
            "--dry-run=rbac",
            "wait-secret",
            "litellm-api-user",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "# events: kwait records Events in its pod's own namespace, not known here (POD_NAMESPACE is unset);\n\
         # this Role assumes crs: grant the events rule in the pod's namespace, or pass --no-events\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: kwait-litellm-api-user-166ffd93\n  namespace: crs\nrules:\n\
         # read the Secret; watch it to react at once\n\
         - apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"litellm-api-user\"]\n  verbs: [\"get\", \"watch\"]\n\
         # optional: record Events on kwait's own pod, so kubectl describe pod shows why it waits (in the pod's namespace; --no-events drops this rule)\n\
         - apiGroups: [\"events.k8s.io\"]\n  resources: [\"events\"]\n  verbs: [\"create\", \"patch\"]\n"
    );
    let r = run_in(
        &dir,
        &[
            "--dry-run=rbac",
            "wait-job",
            "-l",
            "app.kubernetes.io/component=migrations",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("resources: [\"jobs\"]\n  verbs: [\"list\", \"watch\"]\n"),
        "{}",
        r.stdout
    );
    let r = run_in(
        &dir,
        &["--no-events", "--dry-run=rbac", "wait-tcp", "postgres:5432"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.ends_with("rules: []\n"), "{}", r.stdout);
    // Without --no-events, only the (optional) rule for the Events on kwait's pod.
    let r = run_in(&dir, &["--dry-run=rbac", "wait-tcp", "postgres:5432"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.ends_with(
            "- apiGroups: [\"events.k8s.io\"]\n  resources: [\"events\"]\n  verbs: [\"create\", \"patch\"]\n"
        ),
        "{}",
        r.stdout
    );
    // --service: the Service that wakes a network check, and the slices' rule it needs.
    let r = run_in(
        &dir,
        &[
            "--no-events",
            "-n",
            "crs",
            "--dry-run",
            "wait-http",
            "http://web:8080/health",
            "--service",
            "web",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "kwait: would wait for HTTP GET http://web:8080/health (status 200-299) (woken by Service crs/web), timeout 5m0s\n\
         kwait: RBAC needed: list, watch on endpointslices.discovery.k8s.io in namespace crs (optional)\n"
    );
    // Bad input is still refused in dry-run.
    let r = run_in(&dir, &["--dry-run", "wait-secret", "Bad"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

/// The `metadata.name` of each Role or ClusterRole `--dry-run=rbac` prints for `args`.
fn role_names(dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-n", "crs", "--dry-run=rbac"];
    all.extend_from_slice(args);
    let r = run_in(dir, &all);
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    r.stdout
        .split("---\n")
        .filter_map(|doc| {
            let rest = &doc[doc.find("metadata:\n  name: ")? + "metadata:\n  name: ".len()..];
            Some(rest.lines().next()?.to_string())
        })
        .collect()
}

/// Issue #22: `--dry-run=rbac` named the Role after the first target only, so these two printed
/// `kwait-shared` both, and applying the second took the first pod's Job permission away.
#[test]
fn roles_whose_rules_differ_are_named_apart_and_the_same_rules_alike() {
    let dir = scratch("role-names");
    let a = role_names(
        &dir,
        &["wait-secret", "shared", "--and", "wait-job", "migrate-a"],
    );
    let b = role_names(
        &dir,
        &["wait-secret", "shared", "--and", "wait-job", "migrate-b"],
    );
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert_ne!(a, b);
    assert!(a[0].starts_with("kwait-shared-"), "{a:?}");
    // The same list renders the same name, also in another order.
    let again = role_names(
        &dir,
        &["wait-secret", "shared", "--and", "wait-job", "migrate-a"],
    );
    let swapped = role_names(
        &dir,
        &["wait-job", "migrate-a", "--and", "wait-secret", "shared"],
    );
    assert_eq!((&a, &a), (&again, &swapped));
    // --role-name names every document (a Role and a ClusterRole may share a name).
    let chosen = role_names(
        &dir,
        &[
            "--role-name",
            "web-waits",
            "wait-secret",
            "shared",
            "--and",
            "wait-ready",
            "crd/widgets.example.com",
        ],
    );
    assert_eq!(chosen, ["web-waits", "web-waits"]);
}

#[test]
fn an_interval_below_100ms_is_refused_for_kubernetes_targets_instead_of_a_get_storm() {
    let c = Cluster::new("interval-floor");
    let mut cmd = c.kwait(&["--timeout", "3s", "wait-secret", "missing"]);
    cmd.env("KWAIT_INTERVAL", "1ns")
        .env("KWAIT_MAX_INTERVAL", "1ns");
    let r = run(cmd, Duration::from_secs(30));
    let gets = c.api.count("get");
    eprintln!("KWAIT_INTERVAL=1ns KWAIT_MAX_INTERVAL=1ns, 3 s: {gets} GETs");
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--interval") && r.stderr.contains("at least 100ms"),
        "{}",
        r.stderr
    );
    assert_eq!(gets, 0);
    // At the floor, the same wait is a handful of requests a second at most.
    let mut cmd = c.kwait(&["--timeout", "3s", "wait-secret", "missing"]);
    cmd.env("KWAIT_INTERVAL", "100ms")
        .env("KWAIT_MAX_INTERVAL", "100ms");
    let r = run(cmd, Duration::from_secs(30));
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let gets = c.api.count("get");
    eprintln!("KWAIT_INTERVAL=100ms KWAIT_MAX_INTERVAL=100ms, 3 s: {gets} GETs");
    assert!(gets <= 40, "{gets} GETs in 3 s");
}

#[test]
fn an_interval_below_10ms_is_refused_for_network_targets() {
    let dir = scratch("net-interval-floor");
    for args in [
        vec!["--interval", "1ns", "wait-tcp", "127.0.0.1:1"],
        vec!["--interval", "9ms", "wait-http", "http://127.0.0.1:1/"],
    ] {
        let r = run_in(&dir, &args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("--interval") && r.stderr.contains("at least 10ms"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn an_empty_kwait_kubeconfig_means_unset_as_kubectl_treats_kubeconfig() {
    let c = Cluster::new("empty-kubeconfig");
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let mut cmd = kwait(&c.dir);
    cmd.env("KWAIT_KUBECONFIG", "")
        .env("KUBECONFIG", &c.kubeconfig)
        .args(["--timeout", "20s", "wait-secret", "s"]);
    let r = run(cmd, Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// The "waiting for ..." text of a run's first line and the "would wait for ..." of --dry-run.
fn waiting_for(stderr: &str) -> &str {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("kwait: waiting for "))
        .unwrap_or_else(|| panic!("no start line in {stderr}"))
}

#[test]
fn dry_run_describes_each_target_as_the_run_does_and_never_prints_a_url_password() {
    let c = Cluster::new("describe");
    let cases: Vec<Vec<&str>> = vec![
        vec!["wait-secret", "s", "--key", "A", "--key", "B"],
        vec!["wait-certificate", "c", "--secret-name", "tls"],
        vec!["wait-certificate", "c", "--no-secret-check"],
        vec!["wait-job", "j", "--if-missing", "succeed"],
        vec!["wait-job", "-l", "app=x", "--all"],
        vec![
            "wait-http",
            "http://user:pw-sekrit@127.0.0.1:1/health?x=1",
            "--json-path",
            "$.status",
            "--equals",
            "ok",
        ],
        vec!["wait-tcp", "127.0.0.1:1"],
    ];
    for args in cases {
        let mut all = vec!["-n", NS, "--timeout", "1s"];
        all.extend(&args);
        let run = run(c.kwait(&all), Duration::from_secs(30));
        let mut dry = vec!["--dry-run"];
        dry.extend(&all);
        let dry = run_in(&c.dir, &dry);
        assert_eq!(dry.code, Some(0), "{args:?}: {}", dry.stderr);
        let would = dry
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("kwait: would wait for "))
            .unwrap_or_else(|| panic!("{args:?}: {}", dry.stdout));
        assert_eq!(would, waiting_for(&run.stderr), "{args:?}");
        for out in [&dry.stdout, &dry.stderr, &run.stdout, &run.stderr] {
            assert!(!out.contains("pw-sekrit"), "{args:?}: {out}");
        }
    }
}

/// Regression (CI, charts-snippets): `--dry-run` built the HTTP probe to describe it, which read
/// and parsed `--ca-cert`; the chart check's stand-in file (and a pod-only mount where CI runs)
/// made a valid plan exit 2. The description is made from the arguments alone.
#[test]
fn dry_run_does_not_read_the_ca_cert_that_only_the_pod_mounts() {
    let home = scratch("dry-run-ca");
    let stand_in = home.join("ca.crt");
    std::fs::write(
        &stand_in,
        "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for ca in [stand_in.to_str().unwrap(), "/nonexistent/ca.crt"] {
        let r = run_in(
            &home,
            &[
                "--dry-run",
                "wait-http",
                "https://api:8443/ready",
                "--ca-cert",
                ca,
            ],
        );
        assert_eq!(r.code, Some(0), "{ca}: {}", r.stderr);
        assert!(
            r.stdout
                .contains("kwait: would wait for HTTP GET https://api:8443/ready (status 200-299)"),
            "{}",
            r.stdout
        );
    }
}
