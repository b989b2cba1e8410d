//! Keeps the benchmark harness from rotting: runs `bench` with tiny settings (2 trials,
//! scale 3, a 3 s window) against the debug kwait and checks that the report has every row
//! with sane numbers. Not timed: no figure is compared with a budget here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `target/debug/kwait`, built with `cargo build -p kwait --bin kwait` when missing.
fn debug_kwait() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let kwait = target.join("debug").join("kwait");
    if !kwait.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "kwait", "--bin", "kwait", "--manifest-path"])
            .arg(workspace().join("Cargo.toml"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p kwait failed");
    }
    assert!(kwait.is_file(), "{} missing", kwait.display());
    kwait
}

fn tool_found(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The leading number of a cell (`12.3 ms`, `2/2`, `5.61 MiB`, `1.2 s`).
/// Waits for the bench (at most 150 s; then kills it and fails, naming `what`).
fn finish_within(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if started.elapsed() > Duration::from_secs(150) {
            let _ = child.kill();
            panic!("{what} did not finish in 150 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn number(cell: &str) -> Option<f64> {
    let t: String = cell
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    t.parse().ok()
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

fn row<'a>(md: &'a str, label: &str) -> Option<&'a str> {
    md.lines().find(|l| l.starts_with(&format!("| {label} |")))
}

#[test]
fn bench_runs_on_a_tiny_setting_and_reports_every_row() {
    let kwait = debug_kwait();
    let dir = std::env::temp_dir().join(format!("kwait-bench-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("RESULTS.md");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--trials", "2", "--scale", "3", "--window", "3", "--jitter", "0.2",
        ])
        .args(["--chain-trials", "1", "--chain-gap", "0.3"])
        // the rollout and postgres sections: sections_run_alone_are_spliced_into_a_report;
        // service: the_service_section_runs_alone_with_every_waiter
        .args(["--skip", "rollout,postgres,brokers,service"])
        .arg("--kwait")
        .arg(&kwait)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bench");
    let status = finish_within(&mut child, "bench");
    let printed = {
        use std::io::Read as _;
        let mut s = String::new();
        child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        s
    };
    assert!(status.success(), "bench failed: {status}\n{printed}");
    let md = std::fs::read_to_string(&out).expect("bench wrote its report");
    assert!(printed.contains("## 2–5."), "the table is printed too");

    let kubectl = tool_found("kubectl", &["version", "--client"]);
    let curl = tool_found("curl", &["--version"]) && tool_found("bash", &["--version"]);
    if !kubectl {
        println!("SKIPPED: kubectl not found: its rows must say SKIPPED");
    }
    let rows: [(&str, bool); 7] = [
        ("kwait wait-secret", true),
        ("kubectl wait --for=create", kubectl),
        ("k8s-wait-for loop (kubectl get, sleep 2)", kubectl),
        ("kwait wait-job", true),
        ("kubectl wait --for=condition=complete", kubectl),
        ("kwait wait-http", true),
        ("curl loop (sleep 1)", curl),
    ];
    for (label, expected) in rows {
        let line = row(&md, label).unwrap_or_else(|| panic!("no row {label:?} in\n{md}"));
        let c = cells(line);
        if !expected {
            assert!(
                c[2].starts_with("SKIPPED"),
                "{label} should be SKIPPED: {line}"
            );
            continue;
        }
        assert_eq!(c.len(), 11, "{line}");
        assert_eq!(c[2], "2/2", "both trials of {label} succeed: {line}");
        // exec → first request p50/p99, reaction p50/p99, start-up requests, peak RSS: > 0
        for i in [3, 4, 5, 6, 7, 10] {
            let x =
                number(&c[i]).unwrap_or_else(|| panic!("{label}: cell {i} not a number: {line}"));
            assert!(x.is_finite() && x > 0.0, "{label}: cell {i} is {x}: {line}");
        }
        // requests per minute: finite, not negative (a watcher may make none in 3 s)
        for i in [8, 9] {
            if c[i] == "(same)" {
                continue;
            }
            let x =
                number(&c[i]).unwrap_or_else(|| panic!("{label}: cell {i} not a number: {line}"));
            assert!(x.is_finite(), "{line}");
        }
    }

    // sizes, budgets, ratios and scale are there
    let size = row(&md, "kwait (measured binary)").expect("size row");
    assert!(number(&cells(size)[1]).is_some_and(|x| x > 0.0), "{size}");
    for budget in ["binary size", "reaction p50 (Secret appears)", "peak RSS"] {
        assert!(
            row(&md, budget).is_some(),
            "budget row {budget:?} missing:\n{md}"
        );
    }
    assert!(md.contains("## Ratios kwait / contender"), "{md}");
    if kubectl || curl {
        let ratio = row(&md, "reaction p50").expect("ratio row");
        for cell in &cells(ratio)[1..] {
            assert!(number(cell).is_some_and(f64::is_finite), "{ratio}");
        }
    }
    // several dependencies: one kwait with --and vs three init containers, both orders
    for order in [
        "Secret, Job, HTTP (as listed)",
        "HTTP, Job, Secret (reversed)",
    ] {
        for mode in [
            "one kwait with `--and`",
            "three kwait init containers, one after another",
        ] {
            let head = format!("| {order} | {mode} |");
            let line = md
                .lines()
                .find(|l| l.starts_with(&head))
                .unwrap_or_else(|| panic!("no row {head:?} in\n{md}"));
            let c = cells(line);
            assert_eq!(c[2], "1/1", "the pod start succeeds: {line}");
            for i in [3, 4, 5, 6] {
                assert!(number(&c[i]).is_some_and(|x| x > 0.0), "cell {i}: {line}");
            }
        }
    }
    // the full run marks its sections as `--only` splices them
    for marker in ["<!-- section:chain -->\n## 7.", "<!-- /section:chain -->"] {
        assert_eq!(md.matches(marker).count(), 1, "{marker:?} once in\n{md}");
    }
    let scale = row(&md, "3").expect("scale row");
    let c = cells(scale);
    assert_eq!(c[1], "3/3", "all 3 kwait processes exit 0: {scale}");
    assert!(number(&c[4]).is_some_and(|x| x > 0.0), "{scale}");
    for what in [
        "machine:",
        "kwait: kwait ",
        "cargo run --release -p testkit --bin bench",
    ] {
        assert!(md.contains(what), "{what:?} missing from the report");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A duration cell (`52.3 ms`, `1.05 s`) in milliseconds.
fn millis(cell: &str) -> Option<f64> {
    let x = number(cell)?;
    if cell.trim().ends_with(" ms") {
        Some(x)
    } else if cell.trim().ends_with(" s") {
        Some(x * 1e3)
    } else {
        None
    }
}

#[test]
fn the_service_section_runs_alone_with_every_waiter() {
    let kwait = debug_kwait();
    let dir = std::env::temp_dir().join(format!("kwait-bench-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("service.md");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--only",
            "service",
            "--service-trials",
            "2",
            "--jitter",
            "0.2",
        ])
        .arg("--kwait")
        .arg(&kwait)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bench");
    let status = finish_within(&mut child, "bench --only service");
    assert!(status.success(), "bench --only service failed: {status}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.contains("<!-- section:service -->\n## 13. HTTP behind a Service"),
        "{md}"
    );
    assert!(md.contains("T + 30 ms"), "the lag is stated: {md}");
    let curl = tool_found("curl", &["--version"]) && tool_found("bash", &["--version"]);
    for (who, runs, api) in [
        // at least a LIST and a watch of the Service's endpointslices
        ("kwait wait-http URL --service web", true, 2.0),
        ("kwait wait-http URL", true, 0.0),
        ("curl loop (sleep 1)", curl, 0.0),
    ] {
        let line = row(&md, who).unwrap_or_else(|| panic!("no row {who:?} in\n{md}"));
        let c = cells(line);
        if !runs {
            assert!(c[1].starts_with("SKIPPED"), "{line}");
            continue;
        }
        assert_eq!(c[1], "2/2", "both waits succeed: {line}");
        // the HTTP server answers 200 only from T + 30 ms: no reaction can be shorter
        for i in [2, 3] {
            let ms = millis(&c[i]).unwrap_or_else(|| panic!("cell {i}: {line}"));
            assert!(ms >= 30.0, "cell {i} below the lag: {line}");
        }
        assert!(number(&c[4]).is_some_and(f64::is_finite), "{line}");
        let n = number(&c[5]).unwrap_or_else(|| panic!("API requests: {line}"));
        if api == 0.0 {
            assert_eq!(n, 0.0, "no API request without --service: {line}");
        } else {
            assert!(n >= api, "API requests per wait: {line}");
        }
    }
    for verb in ["list", "watch"] {
        let head = format!("- `{verb} /apis/discovery.k8s.io/v1/namespaces/bench/endpointslices?");
        assert!(
            md.lines().any(|l| l.starts_with(&head)
                && l.contains("labelSelector=kubernetes.io%2Fservice-name%3Dweb")),
            "{head} in\n{md}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sections_run_alone_are_spliced_into_a_report() {
    let kwait = debug_kwait();
    let dir = std::env::temp_dir().join(format!("kwait-bench-splice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let into = dir.join("RESULTS.md");
    let before = "# kwait benchmark\n\nthe full run's text\n\n<!-- section:rollout -->\n## 8. old\n\nold rollout figures\n<!-- /section:rollout -->\n\n## How it is measured\n\n- kept\n";
    std::fs::write(&into, before).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--only", "rollout,postgres", "--jitter", "0.2"])
        .args(["--rollout-trials", "1", "--pg-trials", "1"])
        .arg("--kwait")
        .arg(&kwait)
        .arg("--into")
        .arg(&into)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bench");
    let status = finish_within(&mut child, "bench --only");
    assert!(status.success(), "bench --only failed: {status}");
    let md = std::fs::read_to_string(&into).unwrap();
    // the rollout section replaced in place, the rest kept, postgres appended
    assert!(!md.contains("old rollout figures"), "{md}");
    assert!(md.starts_with("# kwait benchmark\n\nthe full run's text\n\n<!-- section:rollout -->\n## 8. A Deployment rolled out"), "{md}");
    assert!(
        md.contains("<!-- /section:rollout -->\n\n## How it is measured\n\n- kept\n"),
        "{md}"
    );
    assert!(
        md.trim_end().ends_with("<!-- /section:postgres -->"),
        "{md}"
    );
    for name in ["rollout", "postgres"] {
        assert_eq!(
            md.matches(&format!("<!-- section:{name} -->")).count(),
            1,
            "{md}"
        );
    }
    // each section says how it was run
    assert_eq!(md.matches("This section was run on its own: `cargo run --release -p testkit --bin bench -- --only rollout,postgres").count(), 2, "{md}");

    let kubectl = tool_found("kubectl", &["version", "--client"]);
    for case in [
        "new Deployment (Available=False until done)",
        "update of an available Deployment (Available=True throughout)",
    ] {
        for (who, is_kubectl) in [
            ("kwait wait-ready deploy/NAME", false),
            ("kubectl rollout status deploy/NAME", true),
            ("kubectl wait --for=condition=Available deploy/NAME", true),
        ] {
            let head = format!("| {case} | {who} |");
            let line = md
                .lines()
                .find(|l| l.starts_with(&head))
                .unwrap_or_else(|| panic!("no row {head:?} in\n{md}"));
            let c = cells(line);
            if is_kubectl && !kubectl {
                assert!(c[2].starts_with("SKIPPED"), "{line}");
                continue;
            }
            assert_eq!(c[2], "1/1", "{line}");
            assert!(number(&c[6]).is_some_and(|x| x > 0.0), "requests: {line}");
        }
    }
    // kwait waits for the rollout in both cases
    let kw = md.lines().find(|l| l.starts_with("| update of an available Deployment (Available=True throughout) | kwait wait-ready")).unwrap();
    assert_eq!(
        cells(kw)[3],
        "0/1",
        "kwait exits only when the rollout completed: {kw}"
    );
    assert!(number(&cells(kw)[4]).is_some_and(|x| x > 0.0), "{kw}");

    if md.contains("## 9. PostgreSQL in startup") && !md.contains("SKIPPED: postgres not installed")
    {
        for who in [
            "kwait wait-postgres",
            "pg_isready loop (sleep 1)",
            "kwait wait-tcp",
        ] {
            let line = row(&md, who).unwrap_or_else(|| panic!("no row {who:?} in\n{md}"));
            assert_eq!(cells(line)[1], "1/1", "{line}");
        }
        // the standby refuses sessions for at least a second: wait-tcp is early, the others not
        assert_eq!(
            cells(row(&md, "kwait wait-tcp").unwrap())[2],
            "**1/1**",
            "{md}"
        );
        assert_eq!(
            cells(row(&md, "kwait wait-postgres").unwrap())[2],
            "0/1",
            "{md}"
        );
    } else {
        println!("SKIPPED: postgres not installed: its section must say SKIPPED");
        assert!(md.contains("SKIPPED: postgres not installed"), "{md}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
