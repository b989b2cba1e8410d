//! Hostile credentials and configuration files (issue 13, items 1, 5 and 6): exec credential
//! plugins that hang or flood their output, and files the operator names that never end. Each
//! run is under an address-space limit (`memory_limited`), so a regression that reads without
//! bound dies on an allocation failure instead of taking the machine down, and each must end
//! within its timeout (plus a generous margin for a loaded machine).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

/// A cluster whose user is the exec plugin `body` (a shell script; `$d` is its directory).
fn cluster_with_plugin(name: &str, body: &str) -> Cluster {
    cluster_with_user(name, |_, dir| {
        let plugin = dir.join("plugin.sh");
        write_script(&plugin, &format!("d={}\n{body}", dir.display()));
        exec_user(&plugin)
    })
}

/// kwait under the address-space limit.
fn hostile(c: &Cluster, args: &[&str]) -> Run {
    run(memory_limited(c.kwait(args), HOSTILE_AS_LIMIT_MIB), LIMIT)
}

/// Whether `pid` still runs (a zombie, dead but not yet reaped by its new parent, does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

#[test]
fn an_exec_plugin_that_hangs_is_bounded_by_the_timeout_and_its_process_group_killed() {
    // The plugin leaves a child of its own behind, in its process group.
    let c = cluster_with_plugin(
        "exec-hangs",
        "sleep 120 &\necho $! > \"$d/child\"\necho $$ > \"$d/pid\"\nsleep 120\n",
    );
    let r = hostile(&c, &["wait-secret", "s", "--timeout", "3s"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.took <= Duration::from_millis(4500),
        "took {:?}: {}",
        r.took,
        r.stderr
    );
    for file in ["pid", "child"] {
        let pid = std::fs::read_to_string(c.dir.join(file)).unwrap();
        eventually(
            &format!("the plugin's {file} {} ends", pid.trim()),
            Duration::from_secs(5),
            || (!running(&pid)).then_some(()),
        );
    }
    assert_eq!(c.api.count("get"), 0);
}

#[test]
fn an_exec_plugin_flooding_stdout_is_cut_at_1_mib() {
    let c = cluster_with_plugin("exec-stdout-flood", "head -c 3000000000 /dev/zero\n");
    let r = hostile(&c, &["wait-secret", "s", "--timeout", "4s"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.took <= Duration::from_millis(5500), "took {:?}", r.took);
    assert!(
        r.stderr.contains(&format!(
            "the exec credential plugin {:?} printed more than 1 MiB on stdout; it was stopped",
            c.dir.join("plugin.sh").display().to_string()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn an_exec_plugin_flooding_stderr_is_drained_in_bounded_memory() {
    let c = cluster_with_plugin(
        "exec-stderr-flood",
        "head -c 1000000000 /dev/zero >&2\necho 'the last words' >&2\nexit 1\n",
    );
    let r = hostile(&c, &["wait-secret", "s", "--timeout", "4s"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.took <= Duration::from_millis(5500), "took {:?}", r.took);
    assert!(
        r.stderr.contains("the exec credential plugin"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.len() < 4096, "{} bytes of report", r.stderr.len());
}

#[test]
fn an_exec_plugins_client_certificate_is_used_and_refreshed_at_expiry() {
    let c = cluster_with_user("exec-client-cert", |api, dir| {
        for n in 1..=2 {
            // `get` only: the watch is refused, so the GETs go on and need the credential again
            // at expiry (a healthy watch would leave nothing to renew it for).
            let (cert, key) = api.add_client_certificate(
                &format!("cert-user-{n}"),
                Allow::rules(vec![Rule::new(&["get"], "secrets")]),
            );
            std::fs::write(dir.join(format!("cert{n}.pem")), cert).unwrap();
            std::fs::write(dir.join(format!("key{n}.pem")), key).unwrap();
        }
        let plugin = dir.join("plugin.sh");
        // Run n hands out certificate min(n, 2), valid for 13 s: kwait renews it 10 s before
        // it expires, so after about 3 s.
        write_counting_plugin(
            &plugin,
            dir,
            r#"k=$n; [ $k -gt 2 ] && k=2
cert=$(awk '{printf "%s\\n", $0}' "$d/cert$k.pem")
key=$(awk '{printf "%s\\n", $0}' "$d/key$k.pem")
exp=$(date -u -d "@$(( $(date +%s) + 13 ))" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"%s","clientKeyData":"%s","expirationTimestamp":"%s"}}' "$cert" "$key" "$exp"
"#,
        );
        exec_user(&plugin)
    });
    let k = spawn(c.kwait(&[
        "wait-secret",
        "s",
        "--timeout",
        "40s",
        "--interval",
        "200ms",
        "--max-interval",
        "500ms",
    ]));
    eventually("the plugin ran twice", LIMIT, || {
        let runs = std::fs::read_to_string(c.dir.join("runs")).ok()?;
        (runs.trim().parse::<u32>().ok()? >= 2).then_some(())
    });
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let subjects: Vec<Option<String>> = c
        .api
        .requests()
        .into_iter()
        .filter(|r| r.verb == "get")
        .map(|r| r.subject)
        .collect();
    assert_eq!(
        subjects.first().cloned().flatten().as_deref(),
        Some("cert-user-1"),
        "{subjects:?}"
    );
    assert_eq!(
        subjects.last().cloned().flatten().as_deref(),
        Some("cert-user-2"),
        "{subjects:?}"
    );
}

/// A copy of the cluster's kubeconfig with `from` replaced by `to`.
fn edited(c: &Cluster, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&c.kubeconfig).unwrap();
    assert!(text.contains(from), "{text}");
    let path = c.dir.join("edited.kubeconfig");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Runs kwait on a file without end; it must refuse it at once (exit 2) naming the file and
/// the limit.
fn refuses(c: &Cluster, kubeconfig: &Path, expected: &str) {
    let mut cmd = kwait(&c.dir);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["wait-secret", "s", "--timeout", "10s"]);
    let r = run(memory_limited(cmd, HOSTILE_AS_LIMIT_MIB), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stderr, format!("kwait: {expected}\n"));
    assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);
}

#[test]
fn a_kubeconfig_without_end_is_refused_at_16_mib() {
    let c = Cluster::new("kubeconfig-dev-zero");
    refuses(
        &c,
        Path::new("/dev/zero"),
        "cannot use kubeconfig \"/dev/zero\": it is larger than 16 MiB, the most kwait reads",
    );
}

#[test]
fn a_token_file_without_end_is_refused_at_64_kib() {
    let c = cluster_with_user("token-file-dev-zero", |_, _| "tokenFile: /dev/zero".into());
    refuses(
        &c,
        &c.kubeconfig,
        "kubeconfig: token file \"/dev/zero\" is larger than 64 KiB, the most kwait reads",
    );
}

#[test]
fn a_client_certificate_file_without_end_is_refused_at_1_mib() {
    let c = cluster_with_user("client-cert-dev-zero", |_, _| {
        "client-certificate: /dev/zero\nclient-key: /dev/zero".into()
    });
    refuses(
        &c,
        &c.kubeconfig,
        "kubeconfig: client-certificate \"/dev/zero\" is larger than 1 MiB, the most kwait reads",
    );
}

#[test]
fn a_certificate_authority_file_without_end_is_refused_at_1_mib() {
    let c = Cluster::new("ca-dev-zero");
    let text = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let ca_line = text
        .lines()
        .find(|l| l.contains("certificate-authority-data:"))
        .unwrap()
        .to_string();
    let kc = edited(&c, &ca_line, "    certificate-authority: /dev/zero");
    refuses(
        &c,
        &kc,
        "kubeconfig: certificate-authority \"/dev/zero\" is larger than 1 MiB, the most kwait reads",
    );
}

/// Regression: a plugin that printed its credential and exited, but left a process outside its
/// group (`setsid`) holding its stdout, kept kwait reading until that process ended: every
/// check ran out its attempt timeout and the wait could never use the credential.
#[test]
fn a_plugin_whose_stdout_outlives_it_is_read_within_a_grace_second() {
    let c = cluster_with_user("exec-stdout-held", |api, dir| {
        api.add_token("held-token", "held-user", Allow::All);
        let plugin = dir.join("plugin.sh");
        write_script(
            &plugin,
            r#"setsid sleep 30 &
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"held-token"}}'
"#,
        );
        exec_user(&plugin)
    });
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = run(
        c.kwait(&[
            "wait-secret",
            "s",
            "--timeout",
            "20s",
            "--attempt-timeout",
            "8s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(6), "took {:?}", r.took);
}
