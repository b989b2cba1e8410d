//! The command line: bad input gets one line naming the argument and exit code 2, never a panic;
//! help and version work; `--dry-run` contacts nothing.

mod common;

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
         kwait: RBAC needed: get, watch on secrets named litellm-api-user in namespace crs\n"
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
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: kwait-litellm-api-user\n  namespace: crs\nrules:\n\
         # read the Secret; watch it to react at once\n\
         - apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"litellm-api-user\"]\n  verbs: [\"get\", \"watch\"]\n"
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
    let r = run_in(&dir, &["--dry-run=rbac", "wait-tcp", "postgres:5432"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.ends_with("rules: []\n"), "{}", r.stdout);
    // Bad input is still refused in dry-run.
    let r = run_in(&dir, &["--dry-run", "wait-secret", "Bad"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}
