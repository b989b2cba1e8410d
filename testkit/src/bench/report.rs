//! The Markdown report: budgets, sizes, per-waiter figures, ratios, scale, method.

use super::contenders::{Contender, Scenario, Who};
use super::run::{Idle, Scale, Trial};
use super::util::{Stats, fmt_mib, fmt_ms, fmt_num, fmt_ratio};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Everything measured for one waiter.
pub struct Row {
    pub c: Contender,
    pub cmd: String,
    pub trials: Vec<Trial>,
    pub failures: Vec<String>,
    pub idle: Option<Idle>,
    /// Why it was left out.
    pub skipped: Option<String>,
}

impl Row {
    fn first(&self) -> Option<Stats> {
        Stats::of(&self.trials.iter().map(|t| t.first_ms).collect::<Vec<_>>())
    }
    fn reaction(&self) -> Option<Stats> {
        Stats::of(
            &self
                .trials
                .iter()
                .map(|t| t.reaction_ms)
                .collect::<Vec<_>>(),
        )
    }
    fn startup(&self) -> Option<Stats> {
        Stats::of(
            &self
                .trials
                .iter()
                .map(|t| t.startup_requests as f64)
                .collect::<Vec<_>>(),
        )
    }
    fn idle_ok(&self) -> Option<&Idle> {
        self.idle.as_ref().filter(|i| i.error.is_none())
    }
}

pub struct Size {
    pub what: String,
    pub path: Option<PathBuf>,
    pub bytes: Option<u64>,
    pub note: String,
}

pub struct Report {
    pub command: String,
    pub date: String,
    pub elapsed: String,
    pub machine: Vec<String>,
    pub versions: Vec<String>,
    pub trials: usize,
    pub window_s: f64,
    pub jitter_s: f64,
    pub sizes: Vec<Size>,
    pub rows: Vec<Row>,
    pub scale: Vec<Scale>,
    /// Several dependencies: one kwait with `--and` vs three init containers.
    pub chain: Option<super::chain::Chain>,
    /// Further sections (name, Markdown), each between its `<!-- section:NAME -->` markers.
    pub sections: Vec<(&'static str, String)>,
    pub notes: Vec<String>,
}

fn cell_stat(s: Option<Stats>, f: impl Fn(&Stats) -> f64) -> String {
    s.as_ref().map_or("n/a".to_string(), |s| fmt_ms(f(s)))
}

fn yes(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

impl Report {
    fn row(&self, c: Contender) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.c == c && r.skipped.is_none() && !r.trials.is_empty())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(w, "# kwait benchmark\n");
        let _ = writeln!(
            w,
            "Reproduce with `cargo run --release -p testkit --bin bench` (`--quick` for a 2-minute run). \
             This run: `{}`, {}, took {}.\n",
            self.command, self.date, self.elapsed
        );
        let _ = writeln!(
            w,
            "Every waiter ran side by side in this one run on this one machine, against the same \
             testkit fake API server (in-process, HTTPS, bearer token) and the same loopback \
             HTTP server, whose counters give the request counts. Absolute times on a shared \
             2-core machine are noise; **the ratios are the result**. Latencies are the median \
             (p50) and p99 (nearest rank: with {} trials the p99 is the slowest trial).\n",
            self.trials
        );
        self.machine_section(w);
        self.budget_section(w);
        self.size_section(w);
        self.waiter_section(w);
        self.ratio_section(w);
        self.scale_section(w);
        if let Some(c) = &self.chain {
            let mut md = String::new();
            c.markdown(&mut md);
            w.push_str(&super::splice::wrap("chain", &md));
            w.push('\n');
        }
        for (name, md) in &self.sections {
            w.push_str(&super::splice::wrap(name, md));
            w.push('\n');
        }
        self.method_section(w);
        s
    }

    fn machine_section(&self, w: &mut String) {
        let _ = writeln!(w, "## Machine and versions\n");
        for m in self.machine.iter().chain(&self.versions) {
            let _ = writeln!(w, "- {m}");
        }
        let _ = writeln!(
            w,
            "- settings: {} trials per waiter, {} s idle window, random pause before readiness \
             uniform in [0, {} s), stratified, the same pauses for every waiter\n",
            self.trials,
            fmt_num(self.window_s),
            fmt_num(self.jitter_s)
        );
    }

    fn budget_section(&self, w: &mut String) {
        let _ = writeln!(w, "## kwait against its budgets\n");
        let _ = writeln!(w, "| budget | target | kwait | met |");
        let _ = writeln!(w, "|---|---|---|---|");
        // the static musl binary when scripts/image.sh built it, else the measured one
        let size = ["kwait static musl", "kwait (measured binary)"]
            .iter()
            .find_map(|what| {
                self.sizes
                    .iter()
                    .find(|s| s.what == *what)
                    .and_then(|s| s.bytes.map(|b| (s, b)))
            });
        if let Some(size) = size {
            let mib = size.1 as f64 / 1048576.0;
            let _ = writeln!(
                w,
                "| binary size | ≤ 4 MiB | {} ({}) | {} |",
                fmt_mib(size.1 as f64),
                size.0.what,
                yes(mib <= 4.0)
            );
        }
        let kw = self.row(Contender::ALL[0]);
        if let Some(r) = kw.and_then(Row::reaction) {
            let _ = writeln!(
                w,
                "| reaction p50 (Secret appears) | ≤ 50 ms | {} | {} |",
                fmt_ms(r.p50),
                yes(r.p50 <= 50.0)
            );
        }
        if let Some(i) = kw.and_then(Row::idle_ok) {
            let _ = writeln!(
                w,
                "| API requests per waiting minute | ≤ 2 | {} (all), {} (object); start-up: {} | {} |",
                fmt_num(i.all_per_min),
                fmt_num(i.object_per_min),
                i.startup_requests,
                yes(i.all_per_min <= 2.0)
            );
            if let Some(rss) = i.rss {
                let _ = writeln!(
                    w,
                    "| peak RSS | ≤ 10 MiB | {} | {} |",
                    fmt_mib(rss as f64),
                    yes(rss as f64 <= 10.0 * 1048576.0)
                );
            }
        }
        let _ = writeln!(w);
    }

    fn size_section(&self, w: &mut String) {
        let _ = writeln!(w, "## 1. Size\n");
        let _ = writeln!(w, "| binary | size | kwait / this | path, notes |");
        let _ = writeln!(w, "|---|---|---|---|");
        let kwait = self.sizes.first().and_then(|s| s.bytes);
        for s in &self.sizes {
            let size = s.bytes.map_or("n/a".to_string(), |b| {
                format!("{} ({b} bytes)", fmt_mib(b as f64))
            });
            let ratio = if s.what.starts_with("kwait") {
                "—".to_string()
            } else {
                fmt_ratio(kwait.map(|b| b as f64), s.bytes.map(|b| b as f64))
            };
            let path = s
                .path
                .as_ref()
                .map(|p| format!("`{}` ", p.display()))
                .unwrap_or_default();
            let _ = writeln!(w, "| {} | {size} | {ratio} | {path}{} |", s.what, s.note);
        }
        let _ = writeln!(w);
    }

    fn waiter_section(&self, w: &mut String) {
        let _ = writeln!(w, "## 2–5. Start-up, reaction, API requests, memory\n");
        let _ = writeln!(
            w,
            "| waiter | scenario | trials ok | exec → first request p50 | p99 | reaction p50 | p99 | start-up requests | requests/min waiting: all | object | peak RSS |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            if let Some(why) = &r.skipped {
                let _ = writeln!(
                    w,
                    "| {} | {} | SKIPPED: {why} | | | | | | | | |",
                    r.c.label(),
                    r.c.scenario.title()
                );
                continue;
            }
            let first = r.first();
            let react = r.reaction();
            let startup = r.startup().map_or("n/a".to_string(), |s| fmt_num(s.p50));
            let (all, obj, rss) = match r.idle_ok() {
                Some(i) => (
                    fmt_num(i.all_per_min),
                    if r.c.scenario == Scenario::Http {
                        "(same)".to_string()
                    } else {
                        fmt_num(i.object_per_min)
                    },
                    i.rss.map_or("n/a".to_string(), |b| fmt_mib(b as f64)),
                ),
                None => ("n/a".to_string(), "n/a".to_string(), "n/a".to_string()),
            };
            let _ = writeln!(
                w,
                "| {} | {} | {}/{} | {} | {} | {} | {} | {startup} | {all} | {obj} | {rss} |",
                r.c.label(),
                r.c.scenario.title(),
                r.trials.len(),
                r.trials.len() + r.failures.len(),
                cell_stat(first, |s| s.p50),
                cell_stat(first, |s| s.p99),
                cell_stat(react, |s| s.p50),
                cell_stat(react, |s| s.p99),
            );
        }
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "For HTTP, requests are those at the HTTP server (there is no discovery). Start-up \
             requests: median count of requests until the waiter was certainly waiting \
             (kubectl's discovery included). Requests/min: over the idle window that starts once \
             the waiter is waiting; \"object\" counts requests for the awaited resource type only.\n"
        );
    }

    fn ratio_section(&self, w: &mut String) {
        let pairs: Vec<(&Row, &Row)> = self
            .rows
            .iter()
            .filter(|r| !r.c.is_kwait() && r.skipped.is_none() && !r.trials.is_empty())
            .filter_map(|r| self.row(r.c.baseline()).map(|k| (k, r)))
            .collect();
        let _ = writeln!(
            w,
            "## Ratios kwait / contender (below 1: kwait is smaller, faster or lighter)\n"
        );
        if pairs.is_empty() {
            let _ = writeln!(w, "No contender ran.\n");
            return;
        }
        let mut head = "| figure |".to_string();
        let mut rule = "|---|".to_string();
        for (k, c) in &pairs {
            head += &format!(" {} / {} |", k.c.label(), c.c.label());
            rule += "---|";
        }
        let _ = writeln!(w, "{head}\n{rule}");
        type Get = fn(&Row) -> Option<f64>;
        let figures: [(&str, Get); 7] = [
            ("exec → first request p50", |r| r.first().map(|s| s.p50)),
            ("reaction p50", |r| r.reaction().map(|s| s.p50)),
            ("reaction p99", |r| r.reaction().map(|s| s.p99)),
            ("start-up requests", |r| r.startup().map(|s| s.p50)),
            ("requests/min waiting (all)", |r| {
                r.idle_ok().map(|i| i.all_per_min)
            }),
            ("requests/min waiting (object)", |r| {
                r.idle_ok().map(|i| i.object_per_min)
            }),
            ("peak RSS", |r| {
                r.idle_ok().and_then(|i| i.rss).map(|b| b as f64)
            }),
        ];
        for (name, get) in figures {
            let mut line = format!("| {name} |");
            for (k, c) in &pairs {
                line += &format!(" {} |", fmt_ratio(get(k), get(c)));
            }
            let _ = writeln!(w, "{line}");
        }
        let kwait_size = self.sizes.first().and_then(|s| s.bytes).map(|b| b as f64);
        let kubectl_size = self
            .sizes
            .iter()
            .find(|s| s.what.starts_with("kubectl"))
            .and_then(|s| s.bytes)
            .map(|b| b as f64);
        let mut line = "| binary size |".to_string();
        for (_, c) in &pairs {
            let cell = if matches!(c.c.who, Who::KubectlWait | Who::GetLoop) {
                fmt_ratio(kwait_size, kubectl_size)
            } else {
                "n/a".to_string()
            };
            line += &format!(" {cell} |");
        }
        let _ = writeln!(w, "{line}\n");
    }

    fn scale_section(&self, w: &mut String) {
        let _ = writeln!(w, "## 6. Scale: N kwait wait-secret on one API server\n");
        let _ = writeln!(
            w,
            "| N | exit 0 | spawn → all watching | requests/s at the server while waiting | reaction of the last | median reaction | RSS / PSS per process |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for sc in &self.scale {
            if let Some(e) = &sc.error {
                let _ = writeln!(w, "| {} | FAILED: {e} | | | | | |", sc.n);
                continue;
            }
            let mem = match (sc.rss_each, sc.pss_each) {
                (Some(r), Some(p)) => format!("{} / {}", fmt_mib(r), fmt_mib(p)),
                _ => "n/a".to_string(),
            };
            let _ = writeln!(
                w,
                "| {} | {}/{} | {} | {} (over {} s; {} per process per minute) | {} | {} | {mem} |",
                sc.n,
                sc.exit_ok,
                sc.n,
                fmt_ms(sc.start_all.as_secs_f64() * 1e3),
                fmt_num(sc.rps),
                fmt_num(sc.window.as_secs_f64()),
                fmt_num(sc.rps * 60.0 / sc.n.max(1) as f64),
                fmt_ms(sc.last_ms),
                fmt_ms(sc.median_ms),
            );
        }
        let _ = writeln!(w);
    }

    fn method_section(&self, w: &mut String) {
        let _ = writeln!(w, "## How it is measured\n");
        let items = [
            "**exec → first request**: wall time from just before `spawn()` to the arrival time the server recorded for the waiter's first request (any path, discovery included; for HTTP, the first hit seen by a 0.1 ms poll).",
            "**reaction**: the waiter is started, the bench waits until it is certainly waiting (kwait: the server has seen its GET and its watch; `kubectl wait --for=condition`: its watch; `kubectl wait --for=create` and the loops: their first GET of the object; HTTP: the first request), pauses a random time in [0, jitter) so a polling loop is caught at every phase (stratified: the trials draw once from each of N equal slices of [0, jitter), in random order, so that every phase is sampled evenly and the median is not left to chance; every waiter gets the same pauses in the same order, so a ratio of two waiters' medians compares them at the same phases), records t0 just before the object is created (Job: `status.conditions` Complete=True; HTTP: the server starts answering 200), and stops when the waiter process has exited 0 (a thread blocked in `wait()` notes the instant).",
            "**requests/min**: a fresh server per waiter; the count starts once the waiter is waiting and runs for the idle window; all waiters' windows run at the same time.",
            "**peak RSS**: the waiter's `ru_maxrss` from `wait4` through GNU `time -f %M`, over the whole idle run (waiting, then the object appears, exit). For the shell loops this is the largest of bash and the `kubectl`/`curl` it ran.",
            "**scale**: N kwait processes start at once; after all have their watch open, requests at the server are counted over the window; then the Secret is created and the last exit is timed. RSS/PSS from `/proc/PID/status` and `smaps_rollup` while waiting (PSS shares the binary's pages).",
            "kubectl runs with a fresh `HOME` (empty discovery cache) per run, as in a new pod; inside one loop run the cache stays warm, as in a real loop.",
        ];
        for i in items {
            let _ = writeln!(w, "- {i}");
        }
        let _ = writeln!(w, "\nCommands (names and paths of this run):\n");
        for r in &self.rows {
            if r.skipped.is_none() {
                let _ = writeln!(w, "- {}: `{}`", r.c.label(), r.cmd);
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(w, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(w, "- {n}");
            }
        }
    }
}
