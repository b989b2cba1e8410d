//! The contenders: kwait and what people use today, each as a command line for one scenario.

use super::util::Cmdline;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use testkit::ApiServer;

/// The namespace every benchmark object lives in.
pub const NS: &str = "bench";

/// What is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A Secret that appears.
    Secret,
    /// A Job that exists and completes.
    Job,
    /// An HTTP endpoint that turns from 503 to 200.
    Http,
    /// A TCP port that starts listening.
    Tcp,
    /// A Redis that answers -LOADING, then PONG.
    Redis,
}

impl Scenario {
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Secret => "Secret appears",
            Scenario::Job => "Job completes",
            Scenario::Http => "HTTP 503 → 200",
            Scenario::Tcp => "TCP port opens",
            Scenario::Redis => "Redis LOADING → PONG",
        }
    }

    /// The resource plural the waiters ask for (empty for HTTP).
    pub fn plural(self) -> &'static str {
        match self {
            Scenario::Secret => "secrets",
            Scenario::Job => "jobs",
            Scenario::Http | Scenario::Tcp | Scenario::Redis => "",
        }
    }

    pub fn is_kube(self) -> bool {
        matches!(self, Scenario::Secret | Scenario::Job)
    }

    /// The name `--only` knows it by.
    pub fn key(self) -> &'static str {
        match self {
            Scenario::Secret => "secret",
            Scenario::Job => "job",
            Scenario::Http => "http",
            Scenario::Tcp => "tcp",
            Scenario::Redis => "redis",
        }
    }

    /// Makes the object exist before the waiter starts (a Job that is still running).
    pub fn prepare(self, api: &ApiServer, name: &str) {
        if self == Scenario::Job {
            api.create("jobs", NS, job(name));
        }
    }

    /// Makes the awaited object ready.
    pub fn make_ready(self, api: &ApiServer, name: &str) {
        match self {
            Scenario::Secret => {
                api.create(
                    "secrets",
                    NS,
                    json!({"metadata": {"name": name}, "type": "Opaque", "data": {"API_KEY": "a2V5"}}),
                );
            }
            Scenario::Job => {
                api.patch_status(
                    "jobs",
                    NS,
                    name,
                    json!({"status": {
                        "succeeded": 1,
                        "completionTime": "2025-01-01T00:00:10Z",
                        "conditions": [
                            {"type": "SuccessCriteriaMet", "status": "True"},
                            {"type": "Complete", "status": "True"}
                        ]
                    }}),
                );
            }
            Scenario::Http | Scenario::Tcp | Scenario::Redis => {}
        }
    }
}

fn job(name: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "busybox"}]
        }}},
        "status": {"active": 1, "startTime": "2025-01-01T00:00:00Z"}
    })
}

/// Who waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Kwait,
    /// `kubectl wait`.
    KubectlWait,
    /// groundnuty/k8s-wait-for: `until kubectl get ...; do sleep 2; done`.
    GetLoop,
    /// wait-for-it / dockerize style: `until curl ...; do sleep 1; done`.
    CurlLoop,
    /// wait-for-it.sh without nc: `until (exec 3<>/dev/tcp/HOST/PORT); do sleep 1; done`.
    TcpLoop,
    /// `until [ "$(redis-cli ping)" = PONG ]; do sleep 1; done`.
    RedisCliLoop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contender {
    pub who: Who,
    pub scenario: Scenario,
}

/// The programs the contenders run.
#[derive(Clone, Debug)]
pub struct Tools {
    pub kwait: PathBuf,
    pub kubectl: Option<PathBuf>,
    pub bash: Option<PathBuf>,
    pub curl: Option<PathBuf>,
    pub redis_cli: Option<PathBuf>,
    /// Extra environment for every kwait run (`--kwait-env K=V`: e.g. the old defaults).
    pub kwait_env: Vec<(String, String)>,
    /// GNU time, for the peak RSS of a child (`-f %M`).
    pub time: Option<PathBuf>,
}

/// Where a waiter points.
pub struct Target<'a> {
    pub kubeconfig: &'a Path,
    pub url: &'a str,
    /// `127.0.0.1:PORT` of the TCP scenario's port.
    pub tcp: &'a str,
    /// `127.0.0.1:PORT` of the Redis stand-in.
    pub redis: &'a str,
}

impl Contender {
    pub const ALL: [Contender; 11] = [
        Contender {
            who: Who::Kwait,
            scenario: Scenario::Secret,
        },
        Contender {
            who: Who::KubectlWait,
            scenario: Scenario::Secret,
        },
        Contender {
            who: Who::GetLoop,
            scenario: Scenario::Secret,
        },
        Contender {
            who: Who::Kwait,
            scenario: Scenario::Job,
        },
        Contender {
            who: Who::KubectlWait,
            scenario: Scenario::Job,
        },
        Contender {
            who: Who::Kwait,
            scenario: Scenario::Http,
        },
        Contender {
            who: Who::CurlLoop,
            scenario: Scenario::Http,
        },
        Contender {
            who: Who::Kwait,
            scenario: Scenario::Tcp,
        },
        Contender {
            who: Who::TcpLoop,
            scenario: Scenario::Tcp,
        },
        Contender {
            who: Who::Kwait,
            scenario: Scenario::Redis,
        },
        Contender {
            who: Who::RedisCliLoop,
            scenario: Scenario::Redis,
        },
    ];

    /// The row label (unique).
    pub fn label(self) -> &'static str {
        match (self.who, self.scenario) {
            (Who::Kwait, Scenario::Secret) => "kwait wait-secret",
            (Who::Kwait, Scenario::Job) => "kwait wait-job",
            (Who::Kwait, Scenario::Http) => "kwait wait-http",
            (Who::Kwait, Scenario::Tcp) => "kwait wait-tcp",
            (Who::Kwait, Scenario::Redis) => "kwait wait-redis",
            (Who::TcpLoop, _) => "bash /dev/tcp loop (sleep 1)",
            (Who::RedisCliLoop, _) => "redis-cli ping loop (sleep 1)",
            (Who::KubectlWait, Scenario::Job) => "kubectl wait --for=condition=complete",
            (Who::KubectlWait, _) => "kubectl wait --for=create",
            (Who::GetLoop, _) => "k8s-wait-for loop (kubectl get, sleep 2)",
            (Who::CurlLoop, _) => "curl loop (sleep 1)",
        }
    }

    /// A short name usable in object names.
    pub fn short(self) -> String {
        let who = match self.who {
            Who::Kwait => "kwait",
            Who::KubectlWait => "kubectl",
            Who::GetLoop => "loop",
            Who::CurlLoop => "curl",
            Who::TcpLoop => "devtcp",
            Who::RedisCliLoop => "rediscli",
        };
        let what = match self.scenario {
            Scenario::Secret => "secret",
            Scenario::Job => "job",
            Scenario::Http => "http",
            Scenario::Tcp => "tcp",
            Scenario::Redis => "redis",
        };
        format!("{who}-{what}")
    }

    pub fn is_kwait(self) -> bool {
        self.who == Who::Kwait
    }

    /// The kwait contender of the same scenario.
    pub fn baseline(self) -> Contender {
        Contender {
            who: Who::Kwait,
            scenario: self.scenario,
        }
    }

    /// The request verbs (on the awaited resource) that prove the waiter is waiting: it has
    /// asked about the object and will notice the change. kwait GETs and watches;
    /// `kubectl wait --for=create` polls (GET the object, and its namespace after each 404,
    /// about twice a second); `--for=condition` lists and watches; the loop GETs.
    pub fn waiting_verbs(self) -> &'static [&'static str] {
        match (self.who, self.scenario) {
            (_, Scenario::Http | Scenario::Tcp | Scenario::Redis) => &[],
            (Who::Kwait, _) => &["get", "watch"],
            (Who::KubectlWait, Scenario::Secret) => &["get"],
            (Who::KubectlWait, _) => &["watch"],
            (Who::GetLoop | Who::CurlLoop | Who::TcpLoop | Who::RedisCliLoop, _) => &["get"],
        }
    }

    /// Why it cannot run here, if it cannot.
    pub fn missing(self, tools: &Tools) -> Option<String> {
        match self.who {
            Who::Kwait => None,
            Who::KubectlWait => tools
                .kubectl
                .is_none()
                .then(|| "kubectl not found".to_string()),
            Who::GetLoop => {
                if tools.kubectl.is_none() {
                    Some("kubectl not found".to_string())
                } else {
                    tools.bash.is_none().then(|| "bash not found".to_string())
                }
            }
            Who::CurlLoop => {
                if tools.curl.is_none() {
                    Some("curl not found".to_string())
                } else {
                    tools.bash.is_none().then(|| "bash not found".to_string())
                }
            }
            Who::TcpLoop => tools.bash.is_none().then(|| "bash not found".to_string()),
            Who::RedisCliLoop => {
                if tools.redis_cli.is_none() {
                    Some("redis-cli not found (apt-get install redis-tools)".to_string())
                } else {
                    tools.bash.is_none().then(|| "bash not found".to_string())
                }
            }
        }
    }

    /// The command that waits for `name` (or the URL) with this timeout; `home` is the HOME
    /// of kubectl (its discovery cache), fresh for every run, as in a new pod.
    pub fn cmdline(
        self,
        tools: &Tools,
        target: &Target<'_>,
        name: &str,
        timeout_s: u64,
        home: &Path,
    ) -> Cmdline {
        let kc = target.kubeconfig.to_string_lossy().into_owned();
        let kubectl = || {
            tools
                .kubectl
                .clone()
                .unwrap_or_else(|| PathBuf::from("kubectl"))
        };
        let home = home.to_string_lossy().into_owned();
        let kwait = || {
            tools
                .kwait_env
                .iter()
                .fold(Cmdline::new(&tools.kwait), |c, (k, v)| c.env(k, v.clone()))
        };
        let bash = || tools.bash.clone().unwrap_or_else(|| PathBuf::from("bash"));
        let host_port = |a: &str| -> (String, String) {
            a.rsplit_once(':')
                .map(|(h, p)| (h.to_string(), p.to_string()))
                .unwrap_or_default()
        };
        match (self.who, self.scenario) {
            (Who::Kwait, Scenario::Http) => kwait()
                .args(["wait-http", target.url, "--timeout"])
                .arg(format!("{timeout_s}s")),
            (Who::Kwait, Scenario::Tcp) => kwait()
                .args(["wait-tcp", target.tcp, "--timeout"])
                .arg(format!("{timeout_s}s")),
            (Who::Kwait, Scenario::Redis) => kwait()
                .args(["wait-redis", target.redis, "--timeout"])
                .arg(format!("{timeout_s}s")),
            (Who::TcpLoop, _) => {
                let (h, p) = host_port(target.tcp);
                Cmdline::new(bash()).args([
                    "-c",
                    "until (exec 3<>\"/dev/tcp/$1/$2\") 2>/dev/null; do sleep 1; done",
                    "wait-for-it",
                    &h,
                    &p,
                ])
            }
            (Who::RedisCliLoop, _) => {
                let (h, p) = host_port(target.redis);
                let cli = tools
                    .redis_cli
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("redis-cli"));
                Cmdline::new(bash())
                    .args([
                        "-c",
                        "until [ \"$(redis-cli -h \"$1\" -p \"$2\" ping 2>/dev/null)\" = PONG ]; do sleep 1; done",
                        "wait-for",
                        &h,
                        &p,
                    ])
                    .env("PATH", path_with(&cli))
            }
            (Who::Kwait, s) => kwait()
                .args(["--kubeconfig", &kc, "-n", NS])
                .arg(if s == Scenario::Job {
                    "wait-job"
                } else {
                    "wait-secret"
                })
                .args([name, "--timeout"])
                .arg(format!("{timeout_s}s")),
            (Who::KubectlWait, s) => {
                let (what, cond) = if s == Scenario::Job {
                    (format!("job/{name}"), "--for=condition=complete")
                } else {
                    (format!("secret/{name}"), "--for=create")
                };
                Cmdline::new(kubectl())
                    .args(["--kubeconfig", &kc, "-n", NS, "wait", cond])
                    .arg(what)
                    .arg(format!("--timeout={timeout_s}s"))
                    .env("HOME", home)
            }
            (Who::GetLoop, s) => {
                let bash = tools.bash.clone().unwrap_or_else(|| PathBuf::from("bash"));
                let kind = if s == Scenario::Job { "job" } else { "secret" };
                Cmdline::new(bash)
                    .args([
                        "-c",
                        &format!(
                            "until kubectl get {kind} \"$1\" >/dev/null 2>&1; do sleep 2; done"
                        ),
                        "k8s-wait-for",
                        name,
                    ])
                    .env("KUBECONFIG", kc)
                    .env("HOME", home)
                    .env("PATH", path_with(&kubectl()))
            }
            (Who::CurlLoop, _) => {
                let bash = tools.bash.clone().unwrap_or_else(|| PathBuf::from("bash"));
                let curl = tools.curl.clone().unwrap_or_else(|| PathBuf::from("curl"));
                Cmdline::new(bash)
                    .args([
                        "-c",
                        "until curl -fsS -o /dev/null \"$1\"; do sleep 1; done",
                        "wait-for",
                        target.url,
                    ])
                    .env("PATH", path_with(&curl))
            }
        }
    }
}

/// PATH with the directory of `program` first (so `kubectl`/`curl` in a script is the one
/// the benchmark found).
fn path_with(program: &Path) -> String {
    let dir = program
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest = std::env::var("PATH").unwrap_or_default();
    if dir.is_empty() {
        rest
    } else {
        format!("{dir}:{rest}")
    }
}
