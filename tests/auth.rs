//! How kwait authenticates and finds its kubeconfig, end to end against testkit: token files
//! (rotation), exec credential plugins, client certificates (kind, kubeadm), `$KUBECONFIG` lists.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(40);

/// Subjects of the GETs testkit saw, in order.
fn get_subjects(api: &ApiServer) -> Vec<Option<String>> {
    api.requests()
        .into_iter()
        .filter(|r| r.verb == "get")
        .map(|r| r.subject)
        .collect()
}

/// Waits for an existing Secret and checks that every GET was made as `subject`.
fn ready_as(c: &Cluster, subject: &str) {
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = run(c.kwait(&["wait-secret", "s", "--timeout", "20s"]), LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(get_subjects(&c.api), vec![Some(subject.to_string())]);
}

/// A copy of the cluster's kubeconfig with `line` added to its cluster entry.
fn with_cluster_line(c: &Cluster, file: &str, line: &str) -> PathBuf {
    let text = std::fs::read_to_string(&c.kubeconfig).unwrap().replacen(
        "    certificate-authority-data:",
        &format!("    {line}\n    certificate-authority-data:"),
        1,
    );
    assert!(text.contains(line));
    let path = c.dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// `kwait --kubeconfig KC ARGS...` in the cluster's clean environment.
fn kwait_with(c: &Cluster, kubeconfig: &Path, args: &[&str]) -> Run {
    let mut cmd = kwait(&c.dir);
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    run(cmd, LIMIT)
}

#[test]
fn a_rotated_token_file_is_read_again_so_the_wait_goes_on() {
    let token_file = std::cell::RefCell::new(PathBuf::new());
    let c = cluster_with_user("token-file", |api, dir| {
        api.add_token("token-one", "system:serviceaccount:crs:one", Allow::All);
        let f = dir.join("token");
        std::fs::write(&f, "token-one\n").unwrap();
        *token_file.borrow_mut() = f.clone();
        format!("tokenFile: {}", f.display())
    });
    let k = spawn(c.kwait(&["wait-secret", "rotated", "--timeout", "30s"]));
    sleep_ms(1500);
    // The kubelet writes a new token; the old one stops working.
    c.api
        .add_token("token-two", "system:serviceaccount:crs:two", Allow::All);
    std::fs::write(&*token_file.borrow(), "token-two\n").unwrap();
    c.api.remove_token("token-one");
    sleep_ms(500);
    c.api
        .create("secrets", NS, secret("rotated", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("nauthorized"), "{}", r.stderr);
    let subjects = get_subjects(&c.api);
    assert_eq!(
        subjects.first().cloned().flatten().as_deref(),
        Some("system:serviceaccount:crs:one"),
        "{subjects:?}"
    );
    assert_eq!(
        subjects.last().cloned().flatten().as_deref(),
        Some("system:serviceaccount:crs:two"),
        "{subjects:?}"
    );
    assert!(
        !r.stderr.contains("token-"),
        "a token was printed: {}",
        r.stderr
    );
}

#[test]
fn an_exec_plugin_token_is_used_and_fetched_again_after_a_401() {
    let c = cluster_with_user("exec", |api, dir| {
        api.add_token("exec-token-1", "exec-user-1", Allow::All);
        api.add_token("exec-token-2", "exec-user-2", Allow::All);
        let plugin = dir.join("plugin.sh");
        // Each run hands out the next token and records what kwait told the plugin.
        write_counting_plugin(
            &plugin,
            dir,
            r#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/exec-info"
printf '%s' "$PLUGIN_GREETING" > "$d/env"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token-'$n'"}}'
"#,
        );
        format!(
            "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: {}\n  args: [\"get-token\"]\n  env:\n  - name: PLUGIN_GREETING\n    value: hello\n  interactiveMode: IfAvailable\n",
            plugin.display()
        )
    });
    let k = spawn(c.kwait(&["wait-secret", "from-exec", "--timeout", "30s"]));
    sleep_ms(1500);
    c.api.remove_token("exec-token-1");
    sleep_ms(2500);
    c.api
        .create("secrets", NS, secret("from-exec", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let runs = std::fs::read_to_string(c.dir.join("runs")).unwrap();
    assert_eq!(
        runs.trim(),
        "2",
        "the plugin runs once, then once after the 401"
    );
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.dir.join("exec-info")).unwrap()).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}})
    );
    assert_eq!(std::fs::read_to_string(c.dir.join("env")).unwrap(), "hello");
    let subjects = get_subjects(&c.api);
    assert_eq!(
        subjects.last().cloned().flatten().as_deref(),
        Some("exec-user-2"),
        "{subjects:?}"
    );
    assert!(!r.stderr.contains("exec-token"), "{}", r.stderr);
}

// Issue 13 item 1: a plugin that fails is retried like a 401 (it was exit 2 at start).
#[test]
fn a_failing_exec_plugin_is_retried_like_a_401_quoting_its_last_stderr_line() {
    let c = cluster_with_user("exec-fails", |_, dir| {
        let plugin = dir.join("login.sh");
        write_script(
            &plugin,
            &format!(
                "echo run >> {}/runs\necho 'starting' >&2\nprintf 'error: you must \\033[31mlog in\\033[0m first\\n' >&2\nexit 3\n",
                dir.display()
            ),
        );
        exec_user(&plugin)
    });
    let r = run(
        c.kwait(&["wait-secret", "s", "--timeout", "3s", "--interval", "200ms"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let plugin = c.dir.join("login.sh");
    assert!(
        r.stderr.contains(&format!(
            "the exec credential plugin {:?} failed (exit status: 3): error: you must \\u{{1b}}[31mlog in\\u{{1b}}[0m first\n",
            plugin.display().to_string()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("unauthorized"), "{}", r.stderr);
    let runs = std::fs::read_to_string(c.dir.join("runs")).unwrap();
    assert!(runs.lines().count() >= 2, "retried: {runs}");
    assert_eq!(c.api.count("get"), 0);
}

#[test]
fn an_exec_plugin_that_fails_at_first_is_retried_until_it_works() {
    let c = cluster_with_user("exec-fails-first", |api, dir| {
        api.add_token("late-token", "late-user", Allow::All);
        let plugin = dir.join("login.sh");
        write_counting_plugin(
            &plugin,
            dir,
            r#"if [ $n -lt 2 ]; then echo 'not yet' >&2; exit 1; fi
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"late-token"}}'
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
            "--interval",
            "200ms",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(get_subjects(&c.api), vec![Some("late-user".to_string())]);
}

#[test]
fn a_missing_exec_plugin_names_it_and_its_install_hint() {
    let c = cluster_with_user("exec-missing", |_, _| {
        "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: kwait-no-such-plugin\n  installHint: |\n    install it with: brew install no-such-plugin\n    and log in\n".to_string()
    });
    let r = run(c.kwait(&["wait-secret", "s"]), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "kwait: kubeconfig: cannot run the exec credential plugin \"kwait-no-such-plugin\": "
        ) && r
            .stderr
            .ends_with(" (install it with: brew install no-such-plugin)\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_client_certificate_authenticates_like_a_kind_kubeconfig() {
    let c = cluster_with_user("client-cert", |api, _| {
        let (cert, key) = api.add_client_certificate("kubernetes-admin", Allow::All);
        format!(
            "client-certificate-data: {}\nclient-key-data: {}",
            base64(cert.as_bytes()),
            base64(key.as_bytes())
        )
    });
    ready_as(&c, "kubernetes-admin");
}

#[test]
fn client_certificate_files_are_read_relative_to_the_kubeconfig() {
    let c = cluster_with_user("client-cert-files", |api, dir| {
        let (cert, key) = api.add_client_certificate("kubeadm-admin", Allow::All);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        std::fs::write(dir.join("pki/admin.crt"), cert).unwrap();
        std::fs::write(dir.join("pki/admin.key"), key).unwrap();
        "client-certificate: pki/admin.crt\nclient-key: pki/admin.key".to_string()
    });
    ready_as(&c, "kubeadm-admin");
}

#[test]
fn a_kubeconfig_list_is_merged_and_missing_files_are_skipped() {
    let c = Cluster::new("kubeconfig-list");
    // The first file only names the current context; the second has everything.
    let first = c.dir.join("first.yaml");
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\ncurrent-context: testkit\nclusters: []\nusers: []\ncontexts: []\n",
    )
    .unwrap();
    c.api.create("secrets", NS, secret("merged", &[("k", "v")]));
    let list =
        std::env::join_paths([c.dir.join("does-not-exist"), first, c.kubeconfig.clone()]).unwrap();
    let mut cmd = kwait(&c.dir);
    cmd.env("KUBECONFIG", &list)
        .args(["wait-secret", "merged", "--timeout", "20s"]);
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    let (a, b) = (c.dir.join("a.yaml"), c.dir.join("b.yaml"));
    let mut cmd = kwait(&c.dir);
    cmd.env("KUBECONFIG", std::env::join_paths([&a, &b]).unwrap())
        .args(["wait-secret", "merged"]);
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "kwait: cannot use kubeconfig \"{}:{}\": none of these files exists\n",
            a.display(),
            b.display()
        )
    );
}

#[test]
fn tls_server_name_is_the_name_the_certificate_is_checked_against() {
    let c = Cluster::new("tls-server-name");
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    // The server certificate names localhost and 127.0.0.1, never this one.
    let wrong = with_cluster_line(
        &c,
        "wrong.kubeconfig",
        "tls-server-name: apiserver.other.example",
    );
    let r = kwait_with(&c, &wrong, &["wait-secret", "s", "--timeout", "3s"]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("certificate not valid for name \"apiserver.other.example\""),
        "the report names the certificate problem: {}",
        r.stderr
    );
    let right = with_cluster_line(&c, "right.kubeconfig", "tls-server-name: localhost");
    let r = kwait_with(&c, &right, &["wait-secret", "s", "--timeout", "10s"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// A one-purpose HTTP CONNECT proxy on loopback; counts the tunnels it opened.
fn connect_proxy() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = std::sync::Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line != "\r\n" {
                    line.clear();
                }
                let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let Ok(upstream) = TcpStream::connect(&target) else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let mut c = client;
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut u2) = (c.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                });
                let mut upstream = upstream;
                let _ = std::io::copy(&mut reader, &mut upstream);
            });
        }
    });
    (port, tunnels)
}

#[test]
fn the_clusters_proxy_url_carries_the_requests() {
    let c = Cluster::new("proxy-url");
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let (port, tunnels) = connect_proxy();
    let kc = with_cluster_line(
        &c,
        "proxied.kubeconfig",
        &format!("proxy-url: http://127.0.0.1:{port}"),
    );
    let r = kwait_with(&c, &kc, &["wait-secret", "s", "--timeout", "10s"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

/// The SNI host name in a TLS ClientHello record, if it has one.
fn sni_of(record: &[u8]) -> Option<String> {
    let u16_at = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *record.get(i)?,
            *record.get(i + 1)?,
        ])))
    };
    // Record header (5), handshake header (4), version (2), random (32).
    let mut i = 5 + 4 + 2 + 32;
    i += 1 + usize::from(*record.get(i)?); // session id
    i += 2 + u16_at(i)?; // cipher suites
    i += 1 + usize::from(*record.get(i)?); // compression methods
    let end = i + 2 + u16_at(i)?;
    i += 2;
    while i + 4 <= end {
        let (kind, len) = (u16_at(i)?, u16_at(i + 2)?);
        if kind == 0 {
            // server_name: list length (2), name type (1), name length (2), name.
            let n = u16_at(i + 4 + 3)?;
            let name = record.get(i + 4 + 5..i + 4 + 5 + n)?;
            return String::from_utf8(name.to_vec()).ok();
        }
        i += 4 + len;
    }
    None
}

/// A TCP forwarder to `upstream` that records the SNI of each connection's ClientHello.
fn sni_recorder(upstream: u16) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let mut c = client;
                let mut head = [0u8; 5];
                if c.read_exact(&mut head).is_err() {
                    return;
                }
                let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
                let mut hello = head.to_vec();
                hello.resize(5 + len, 0);
                if c.read_exact(&mut hello[5..]).is_err() {
                    return;
                }
                record.lock().unwrap().push(sni_of(&hello));
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                up.write_all(&hello).unwrap();
                let (mut c2, mut u2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                });
                let _ = std::io::copy(&mut c, &mut up);
            });
        }
    });
    (port, seen)
}

// Issue 13 item 20: the name was checked but never sent (for an IP URL, no SNI at all).
#[test]
fn tls_server_name_is_sent_as_sni() {
    let c = Cluster::new("tls-server-name-sni");
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let (port, seen) = sni_recorder(c.api.port());
    let server = format!("https://127.0.0.1:{port}");
    let text = c
        .api
        .kubeconfig(&KubeconfigOpts {
            token: Some(TOKEN),
            namespace: Some(NS),
            server: Some(&server),
            ..Default::default()
        })
        .replacen(
            "    certificate-authority-data:",
            "    tls-server-name: localhost\n    certificate-authority-data:",
            1,
        );
    let kc = c.dir.join("sni.kubeconfig");
    std::fs::write(&kc, text).unwrap();
    let r = kwait_with(&c, &kc, &["wait-secret", "s", "--timeout", "10s"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|s| s.as_deref() == Some("localhost")),
        "{seen:?}"
    );
}
