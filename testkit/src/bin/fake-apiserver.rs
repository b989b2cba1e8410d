//! Runs the testkit fake Kubernetes API server until killed.
//!
//! ```text
//! fake-apiserver [--tls] [--port N] [--token TOKEN] [--kubeconfig PATH] [--namespace NS]
//! ```
//! With `--token`, authentication is on and TOKEN is an admin token; without it,
//! authentication is off. Prints the URL (and the kubeconfig path) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: fake-apiserver [--tls] [--port N] [--token TOKEN] [--kubeconfig PATH] [--namespace NS]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut tls = false;
    let mut port = 0u16;
    let mut token: Option<String> = None;
    let mut kubeconfig: Option<PathBuf> = None;
    let mut namespace = "default".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tls" => tls = true,
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => return usage(),
            },
            "--token" => match args.next() {
                Some(t) => token = Some(t),
                None => return usage(),
            },
            "--kubeconfig" => match args.next() {
                Some(p) => kubeconfig = Some(PathBuf::from(p)),
                None => return usage(),
            },
            "--namespace" | "-n" => match args.next() {
                Some(n) => namespace = n,
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let api = testkit::ApiServer::builder()
        .tls(tls)
        .auth(token.is_some())
        .port(port)
        .start();
    if let Some(t) = &token {
        api.add_token(t, "system:admin", testkit::Allow::All);
    }
    println!("{}", api.url());
    if let Some(path) = kubeconfig {
        let text = api.kubeconfig(&testkit::KubeconfigOpts {
            token: token.as_deref(),
            namespace: Some(&namespace),
            ..Default::default()
        });
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("fake-apiserver: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
        println!("kubeconfig: {}", path.display());
    }
    loop {
        std::thread::park();
    }
}
