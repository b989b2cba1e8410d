//! A Deployment rolled out (issue #15): `kwait wait-ready deploy/NAME` against
//! `kubectl rollout status deploy/NAME` and `kubectl wait --for=condition=Available deploy/NAME`.
//!
//! testkit runs no controllers: the rollout is made of status patches, as the Deployment
//! controller writes them (generation / observedGeneration, replicas, updatedReplicas,
//! readyReplicas, availableReplicas, the Available and Progressing conditions). Two cases:
//! a **new** Deployment (Available=False until its pods are available) and an **update** of a
//! Deployment that is available (a new template: Available stays True during the rolling
//! update, as it does in a cluster). Each waiter is started, the bench waits until it is
//! certainly waiting (its watch of deployments), pauses a random time, patches the rollout
//! half-way (2 of 3 updated), 200 ms later complete, and times the exit from that last patch.
//! A waiter that exits 0 before the rollout completed is counted as such ("early").

use super::contenders::{NS, Tools};
use super::run::Env;
use super::util::{Cmdline, Rng, Waiter, fmt_mib, fmt_ms, fmt_num, fmt_ratio, tail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The name the report shows (every trial adds a suffix).
pub const NAME: &str = "web";
/// How long a waiter may take to start waiting, and to exit once the rollout completed.
const LIMIT: Duration = Duration::from_secs(30);
/// Between the half-way patch and the last one.
const STEP: Duration = Duration::from_millis(200);

/// Who waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Kwait,
    RolloutStatus,
    WaitAvailable,
}

impl Who {
    pub const ALL: [Who; 3] = [Who::Kwait, Who::RolloutStatus, Who::WaitAvailable];

    pub fn label(self) -> &'static str {
        match self {
            Who::Kwait => "kwait wait-ready deploy/NAME",
            Who::RolloutStatus => "kubectl rollout status deploy/NAME",
            Who::WaitAvailable => "kubectl wait --for=condition=Available deploy/NAME",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Who::Kwait => "kwait",
            Who::RolloutStatus => "rollout",
            Who::WaitAvailable => "wait",
        }
    }

    fn is_kubectl(self) -> bool {
        self != Who::Kwait
    }
}

/// Which rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// A Deployment just created: not Available until its pods are.
    New,
    /// A new template on an available Deployment: Available stays True throughout.
    Update,
}

impl Case {
    pub const ALL: [Case; 2] = [Case::New, Case::Update];

    pub fn label(self) -> &'static str {
        match self {
            Case::New => "new Deployment (Available=False until done)",
            Case::Update => "update of an available Deployment (Available=True throughout)",
        }
    }
}

/// The waiter's command line.
pub fn cmdline(
    who: Who,
    tools: &Tools,
    kubeconfig: &Path,
    name: &str,
    timeout_s: u64,
    home: &Path,
) -> Cmdline {
    let kc = kubeconfig.to_string_lossy().into_owned();
    let kubectl = || {
        tools
            .kubectl
            .clone()
            .unwrap_or_else(|| PathBuf::from("kubectl"))
    };
    let target = format!("deploy/{name}");
    match who {
        Who::Kwait => Cmdline::new(&tools.kwait)
            .args(["--kubeconfig", &kc, "-n", NS, "--timeout"])
            .arg(format!("{timeout_s}s"))
            .args(["wait-ready", &target]),
        Who::RolloutStatus => Cmdline::new(kubectl())
            .args(["--kubeconfig", &kc, "-n", NS, "rollout", "status", &target])
            .arg(format!("--timeout={timeout_s}s"))
            .env("HOME", home.to_string_lossy()),
        Who::WaitAvailable => Cmdline::new(kubectl())
            .args([
                "--kubeconfig",
                &kc,
                "-n",
                NS,
                "wait",
                "--for=condition=Available",
                &target,
            ])
            .arg(format!("--timeout={timeout_s}s"))
            .env("HOME", home.to_string_lossy()),
    }
}

fn deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": "2026-11-30T10:00:00Z", "lastTransitionTime": "2026-11-30T10:00:00Z"})
}

/// The Deployment's status as the controller writes it: `observed` generation, `total`
/// pods, `updated` of the new template, `available` of all.
pub fn status(observed: i64, total: u64, updated: u64, available: u64, rs: &str) -> Value {
    let done = updated == 3 && total == 3 && available == 3;
    let progressing = if done {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    } else {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs}\" is progressing."),
        )
    };
    // maxUnavailable 25% of 3 rounds down to 0: minimum availability is all 3
    let available_cond = if available >= 3 {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    json!({"status": {"observedGeneration": observed, "replicas": total,
                      "updatedReplicas": updated, "readyReplicas": available,
                      "availableReplicas": available,
                      "unavailableReplicas": total.saturating_sub(available),
                      "conditions": [available_cond, progressing]}})
}

/// Creates the Deployment in the state the waiter starts in; returns its generation.
fn prepare(env: &Env, case: Case, name: &str) -> i64 {
    let gen_of = |v: &Value| {
        v.pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    };
    match case {
        Case::New => {
            let d = env.api.create("deployments", NS, deployment(name, "web:1"));
            let g = gen_of(&d);
            env.api.patch_status(
                "deployments",
                NS,
                name,
                status(g, 3, 3, 0, &format!("{name}-1")),
            );
            g
        }
        Case::Update => {
            env.api.create("deployments", NS, deployment(name, "web:1"));
            env.api.patch_status(
                "deployments",
                NS,
                name,
                status(1, 3, 3, 3, &format!("{name}-1")),
            );
            // the new template: generation 2, the controller has seen it and surged one pod
            let d = env.api.patch(
                "deployments",
                NS,
                name,
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}),
            );
            let g = gen_of(&d);
            env.api.patch_status(
                "deployments",
                NS,
                name,
                status(g, 4, 1, 3, &format!("{name}-2")),
            );
            g
        }
    }
}

/// The half-way and the final status of the rollout.
fn steps(case: Case, generation: i64, name: &str) -> [Value; 2] {
    match case {
        Case::New => [
            status(generation, 3, 3, 2, &format!("{name}-1")),
            status(generation, 3, 3, 3, &format!("{name}-1")),
        ],
        Case::Update => [
            status(generation, 4, 2, 3, &format!("{name}-2")),
            status(generation, 3, 3, 3, &format!("{name}-2")),
        ],
    }
}

/// One wait.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// The rollout completed → the waiter exited 0.
    Reacted {
        reaction_ms: f64,
        requests: usize,
        rss: Option<u64>,
    },
    /// Exited 0 before the rollout completed.
    Early { requests: usize, rss: Option<u64> },
}

fn read_rss(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<u64>().ok()))
        .map(|kib| kib * 1024)
}

/// One trial: prepare, start the waiter, wait until it watches, pause, complete the rollout,
/// time the exit.
pub fn trial(
    env: &Env,
    tools: &Tools,
    who: Who,
    case: Case,
    tag: &str,
    jitter: Duration,
    rng: &mut Rng,
) -> Result<(Outcome, Vec<String>), String> {
    let o = wait_once(env, tools, who, case, tag, jitter, rng)?;
    let seen = env
        .api
        .requests()
        .iter()
        .map(|r| format!("{} {} → {}", r.verb, r.path, r.status))
        .collect();
    Ok((o, seen))
}

fn wait_once(
    env: &Env,
    tools: &Tools,
    who: Who,
    case: Case,
    tag: &str,
    jitter: Duration,
    rng: &mut Rng,
) -> Result<Outcome, String> {
    let name = format!("{NAME}-{tag}");
    let generation = prepare(env, case, &name);
    env.api.reset_counters();
    let home = env.dir.join(format!("home-{tag}"));
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::create_dir_all(&home);
    let stderr = env.dir.join(format!("{tag}.stderr"));
    let rss_file = env.dir.join(format!("{tag}.rss"));
    let line = cmdline(
        who,
        tools,
        &env.kubeconfig,
        &name,
        LIMIT.as_secs() * 2,
        &home,
    );
    let time = tools.time.as_deref().map(|t| (t, rss_file.as_path()));
    let mut w = Waiter::spawn(line.command(time, Some(&stderr)))
        .map_err(|e| format!("cannot start: {e}"))?;
    let started = Instant::now();
    let watching = || {
        env.api
            .requests()
            .iter()
            .any(|r| r.verb == "watch" && r.resource == "deployments")
    };
    loop {
        if watching() {
            break;
        }
        if w.exited() {
            let (st, _) = w.wait(Duration::ZERO).unwrap_or((None, Instant::now()));
            if st.is_some_and(|s| s.success()) {
                return Ok(Outcome::Early {
                    requests: env.api.requests().len(),
                    rss: read_rss(&rss_file),
                });
            }
            return Err(format!(
                "exited ({}) before the rollout completed: {}",
                st.map_or("?".to_string(), |s| s.to_string()),
                tail(&stderr, 3)
            ));
        }
        if started.elapsed() > LIMIT {
            w.kill();
            return Err(format!(
                "no watch after {}s (requests: {}): {}",
                LIMIT.as_secs(),
                env.api.requests().len(),
                tail(&stderr, 3)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(rng.duration(jitter));
    let [half, done] = steps(case, generation, &name);
    env.api.patch_status("deployments", NS, &name, half);
    std::thread::sleep(STEP);
    if w.exited() {
        let (st, _) = w.wait(Duration::ZERO).unwrap_or((None, Instant::now()));
        if st.is_some_and(|s| s.success()) {
            return Ok(Outcome::Early {
                requests: env.api.requests().len(),
                rss: read_rss(&rss_file),
            });
        }
        return Err(format!("exited half-way: {}", tail(&stderr, 3)));
    }
    let t0 = Instant::now();
    env.api.patch_status("deployments", NS, &name, done);
    match w.wait(LIMIT) {
        Some((Some(st), at)) if st.success() => Ok(Outcome::Reacted {
            reaction_ms: at.duration_since(t0).as_secs_f64() * 1e3,
            requests: env.api.requests().len(),
            rss: read_rss(&rss_file),
        }),
        Some((st, _)) => Err(format!(
            "exit {}: {}",
            st.and_then(|s| s.code())
                .map_or("?".to_string(), |c| c.to_string()),
            tail(&stderr, 3)
        )),
        None => Err(format!(
            "still waiting {}s after the rollout completed: {}",
            LIMIT.as_secs(),
            tail(&stderr, 3)
        )),
    }
}

/// The figures of one waiter in one case.
#[derive(Clone, Debug)]
pub struct Row {
    pub who: Who,
    pub case: Case,
    pub outcomes: Vec<Outcome>,
    pub failures: Vec<String>,
    pub skipped: Option<String>,
    /// The requests of the first wait that succeeded (verb, path, status).
    pub seen: Option<Vec<String>>,
}

impl Row {
    fn reactions(&self) -> Vec<f64> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Reacted { reaction_ms, .. } => Some(*reaction_ms),
                Outcome::Early { .. } => None,
            })
            .collect()
    }
    fn early(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Early { .. }))
            .count()
    }
    fn requests(&self) -> Vec<f64> {
        self.outcomes
            .iter()
            .map(|o| match o {
                Outcome::Reacted { requests, .. } | Outcome::Early { requests, .. } => {
                    *requests as f64
                }
            })
            .collect()
    }
    fn rss(&self) -> Option<u64> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Reacted { rss, .. } | Outcome::Early { rss, .. } => *rss,
            })
            .max()
    }
}

/// Everything the section reports.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub trials: usize,
    pub jitter: Duration,
    pub rows: Vec<Row>,
    pub commands: Vec<(Who, String)>,
    pub rss_method: &'static str,
}

/// The whole section: a warm-up per waiter (not counted), then `trials` rounds over every
/// case and waiter.
pub fn run(
    dir: &Path,
    tools: &Tools,
    trials: usize,
    jitter: Duration,
    rng: &mut Rng,
    say: &dyn Fn(&str),
) -> Rollout {
    let env = Env::new(dir);
    let mut out = Rollout {
        trials,
        jitter,
        rows: Case::ALL
            .iter()
            .flat_map(|&case| {
                Who::ALL.iter().map(move |&who| Row {
                    who,
                    case,
                    outcomes: Vec::new(),
                    failures: Vec::new(),
                    skipped: (who.is_kubectl() && tools.kubectl.is_none())
                        .then(|| "kubectl not found".to_string()),
                    seen: None,
                })
            })
            .collect(),
        commands: Who::ALL
            .iter()
            .map(|&w| {
                (
                    w,
                    cmdline(
                        w,
                        tools,
                        &env.kubeconfig,
                        NAME,
                        LIMIT.as_secs() * 2,
                        Path::new("$FRESH_HOME"),
                    )
                    .display(),
                )
            })
            .collect(),
        rss_method: if tools.time.is_some() {
            "GNU time %M (wait4 ru_maxrss)"
        } else {
            "not measured (GNU time not found)"
        },
    };
    for who in Who::ALL {
        if who.is_kubectl() && tools.kubectl.is_none() {
            continue;
        }
        let tag = format!("warm-{}", who.short());
        if let Err(e) = trial(&env, tools, who, Case::New, &tag, Duration::ZERO, rng) {
            say(&format!(
                "rollout: {} left out, the warm-up failed: {e}",
                who.label()
            ));
            for r in out.rows.iter_mut().filter(|r| r.who == who) {
                r.skipped = Some(format!("the warm-up run failed: {e}"));
            }
        }
    }
    say(&format!(
        "rollout: {trials} waits per waiter and case, random pause [0, {} s) before the rollout completes",
        fmt_num(jitter.as_secs_f64())
    ));
    for i in 0..trials {
        for (k, row) in out.rows.iter_mut().enumerate() {
            if row.skipped.is_some() {
                continue;
            }
            let tag = format!("{}-{k}-{i}", row.who.short());
            match trial(&env, tools, row.who, row.case, &tag, jitter, rng) {
                Ok((o, seen)) => {
                    row.outcomes.push(o);
                    row.seen.get_or_insert(seen);
                }
                Err(e) => {
                    say(&format!(
                        "rollout {} / {} trial {i}: {e}",
                        row.case.label(),
                        row.who.label()
                    ));
                    row.failures.push(e);
                }
            }
        }
    }
    out
}

fn med(v: &[f64]) -> Option<f64> {
    super::chain::median(v)
}

impl Rollout {
    /// The Markdown section.
    pub fn markdown(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## 8. A Deployment rolled out: kwait wait-ready vs kubectl rollout status vs kubectl wait\n"
        );
        let _ = writeln!(
            w,
            "The rollout of a 3-replica Deployment `{NAME}`, made of status patches on the testkit \
             API server as the Deployment controller writes them (observedGeneration, replicas, \
             updatedReplicas, ready/availableReplicas, the Available and Progressing conditions). \
             Each waiter is started with a fresh kubectl `HOME`; once it watches deployments, a \
             random pause in [0, {} s), the rollout half-way (new: 2 of 3 available; update: 2 of 3 \
             updated, a surge pod), {} ms later complete. **reaction**: that last patch → the waiter exited 0, \
             median and p90 (nearest rank) over {} waits per row. **exited before the rollout \
             completed**: waits where the waiter exited 0 while the rollout was still going. \
             **API requests**: all requests at the server per wait, median. **peak RSS**: the \
             largest over the waits ({}).\n",
            fmt_num(self.jitter.as_secs_f64()),
            STEP.as_millis(),
            self.trials,
            self.rss_method
        );
        let _ = writeln!(
            w,
            "| rollout | waiter | waits ok | exited before the rollout completed | reaction p50 | p90 | API requests | peak RSS |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            if let Some(why) = &r.skipped {
                let _ = writeln!(
                    w,
                    "| {} | {} | SKIPPED: {why} | | | | | |",
                    r.case.label(),
                    r.who.label()
                );
                continue;
            }
            let react = r.reactions();
            let cell = |x: Option<f64>| x.map_or("n/a".to_string(), fmt_ms);
            let early = r.early();
            let _ = writeln!(
                w,
                "| {} | {} | {}/{} | {} | {} | {} | {} | {} |",
                r.case.label(),
                r.who.label(),
                r.outcomes.len(),
                r.outcomes.len() + r.failures.len(),
                if early > 0 {
                    format!("**{early}/{}**", r.outcomes.len())
                } else {
                    format!("0/{}", r.outcomes.len())
                },
                cell(med(&react)),
                cell(super::chain::percentile(&react, 0.9)),
                med(&r.requests()).map_or("n/a".to_string(), fmt_num),
                r.rss().map_or("n/a".to_string(), |b| fmt_mib(b as f64)),
            );
        }
        let _ = writeln!(w);
        for case in Case::ALL {
            let get = |who: Who| self.rows.iter().find(|r| r.who == who && r.case == case);
            let kw = get(Who::Kwait);
            for other in [Who::RolloutStatus, Who::WaitAvailable] {
                let Some(o) = get(other).filter(|o| o.skipped.is_none()) else {
                    continue;
                };
                let Some(k) = kw.filter(|k| k.skipped.is_none()) else {
                    continue;
                };
                let _ = writeln!(
                    w,
                    "- {}: kwait / {}: reaction p50 {}, API requests {}, peak RSS {}",
                    case.label(),
                    other.label(),
                    fmt_ratio(med(&k.reactions()), med(&o.reactions())),
                    fmt_ratio(med(&k.requests()), med(&o.requests())),
                    fmt_ratio(k.rss().map(|b| b as f64), o.rss().map(|b| b as f64)),
                );
            }
        }
        let _ = writeln!(w);
        let notes = [
            "`kubectl wait --for=condition=Available` judges one condition: during a rolling update of an available Deployment, Available stays True (the Deployment keeps its minimum availability), so it exits 0 at once, before the new pods exist; it reports a rollout done only for a new Deployment. `kubectl rollout status` and `kwait wait-ready` judge the rollout itself (observedGeneration, updated, available and total replicas, ProgressDeadlineExceeded).",
            "kwait treats a watch event as a wake-up and GETs the object (the requests listed below: one GET per status change), within a budget of KUBE_CHECK_BURST checks per KUBE_CHECK_WINDOW (src/waiter.rs: 5 per 2.5 s, two a second over time). With the earlier budget of 2 per second, the first GET, the half-way patch and the last patch 200 ms later fell within one second and the last check waited up to ~800 ms (p50 223 ms, p90 743 ms on an update); the burst of 5 checks each of a rollout's few quick changes at once. kubectl judges the object in the watch event itself.",
            "API requests include kubectl's discovery (with an empty cache, as in a new pod) and, with the dispatcher build of kubectl, its `GET /version`; kwait resolves `deploy` through discovery too.",
        ];
        for n in notes {
            let _ = writeln!(w, "- {n}");
        }
        let _ = writeln!(
            w,
            "\nCommands (names and paths of this run; every wait adds a suffix to `{NAME}`):\n"
        );
        for (who, line) in &self.commands {
            let _ = writeln!(w, "- {}: `{line}`", who.label());
        }
        let _ = writeln!(
            w,
            "\nThe requests of one wait (the first of each row; verb as the server classed it, path, status):\n"
        );
        for r in &self.rows {
            if let Some(seen) = &r.seen {
                let _ = writeln!(
                    w,
                    "- {} / {}: {}",
                    r.case.label(),
                    r.who.label(),
                    seen.iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        for r in &self.rows {
            if let Some(e) = r.failures.first() {
                let _ = writeln!(
                    w,
                    "- {} / {}: {} of {} waits failed (first: {e})",
                    r.case.label(),
                    r.who.label(),
                    r.failures.len(),
                    r.failures.len() + r.outcomes.len()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollout_steps_complete_only_at_the_last_patch() {
        let done = |v: &Value| {
            let s = &v["status"];
            s["updatedReplicas"] == 3 && s["replicas"] == 3 && s["availableReplicas"] == 3
        };
        for case in Case::ALL {
            let [half, last] = steps(case, 2, "web");
            assert!(!done(&half), "{case:?}: {half}");
            assert!(done(&last), "{case:?}: {last}");
            assert_eq!(last["status"]["observedGeneration"], 2);
            assert_eq!(
                last["status"]["conditions"][1]["reason"],
                "NewReplicaSetAvailable"
            );
        }
        // an update keeps Available=True half-way (what kubectl wait --for=condition sees)
        let [half, _] = steps(Case::Update, 2, "web");
        assert_eq!(half["status"]["conditions"][0]["status"], "True");
        let [half, _] = steps(Case::New, 2, "web");
        assert_eq!(half["status"]["conditions"][0]["status"], "False");
        assert_eq!(
            status(1, 3, 3, 0, "web-1")["status"]["conditions"][0]["status"],
            "False"
        );
    }
}
