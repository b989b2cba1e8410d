//! Starts the envtest API server (etcd + kube-apiserver from `$KUBEBUILDER_ASSETS`) and keeps
//! it until stdin closes: `cargo run -p testkit --bin envtest`, then use the admin kubeconfig it
//! prints. Prints `pids ETCD APISERVER` and `kubeconfig PATH`, one per line.

use std::io::{BufRead as _, Write as _};

fn main() {
    let Some(env) = testkit::envtest::shared("envtest") else {
        std::process::exit(2);
    };
    let kc = env.kubeconfig(env.dir(), &env.admin(), "default");
    let (etcd, apiserver) = env.pids();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "pids {etcd} {apiserver}");
    let _ = writeln!(out, "kubeconfig {}", kc.display());
    let _ = out.flush();
    // Until stdin closes (Ctrl-D, or the parent ended).
    for _ in std::io::stdin().lock().lines() {}
}
