//! Typed, validated settings built from the command line. Nothing past this module sees clap.
//!
//! Every check here produces a one-line [`PlanError`] that names the argument, printed by
//! `main` with exit code 2.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{self, Command, Invocation};
use crate::duration::{self, parse_duration};

mod broker;
mod db;
pub mod kinds;
mod local;
mod mysql;
mod net;
mod password;
mod redis;
mod tls;
pub use broker::{NatsTarget, RabbitmqTarget};
pub use db::PostgresTarget;
pub use local::{DnsTarget, DnsType, FileTarget};
pub use mysql::MysqlTarget;
pub use net::{BodyMatch, HttpTarget, JsonExpect, TcpTarget, TcpWait};
#[cfg(test)]
pub(crate) use password::Password;
pub use redis::RedisTarget;
pub use tls::TlsChoice;

/// The shortest `--interval` for Kubernetes objects: retries share the cluster's API server
/// with every other client, and the watch wakes kwait the moment the object changes, so a shorter
/// first delay buys nothing but load (`KWAIT_INTERVAL=1ns` once sent 2,078 GETs in 3 s).
pub const MIN_KUBE_INTERVAL: Duration = Duration::from_millis(100);
/// The default `--max-interval` of HTTP, TCP and Redis targets, as a fraction of `--interval`
/// added to it: with the default 1 s, every retry comes 1 s to 1.05 s after the previous check.
///
/// Why not exponential growth to 2 s (the default before): nothing wakes a network wait, so its
/// reaction is the time to the next check, half a period at the median; growing the period made
/// kwait slower than the `until curl ...; do sleep 1; done` loop it replaces (p50 806 ms against
/// 569 ms in bench/RESULTS.md). A shell loop's period is 1 s plus its tool's start-up; a
/// period spread uniformly over [1 s, 1.05 s] averages 1.025 s: no more checks per minute than
/// that loop, the same median wait for the next check (the median of the time to the next
/// check is half the mean period whenever the shortest period is over half the mean), and the small
/// spread still drifts replicas started together apart. `--max-interval` sets it explicitly.
pub const NET_SPREAD: f64 = 0.05;

/// The shortest `--interval` for HTTP and TCP targets: a request or a connect takes about
/// that long anyway; below it a retry loop is a storm on the server.
pub const MIN_NET_INTERVAL: Duration = Duration::from_millis(10);

/// A bad argument or environment value, always naming it.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A value that does not parse or is out of range.
    #[error("invalid value {value:?} for {arg}: {why}")]
    Invalid {
        /// `--timeout`, `NAME`, ...
        arg: &'static str,
        /// What was given (never a header value or other secret).
        value: String,
        /// Why it is wrong.
        why: String,
    },
    /// A file over its size limit, or unreadable (`net::file`'s capped read).
    #[error(transparent)]
    File(#[from] crate::net::file::FileError),
    /// Options that do not go together.
    #[error("{0}")]
    Conflict(String),
}

impl PlanError {
    pub(crate) fn invalid(
        arg: &'static str,
        value: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        PlanError::Invalid {
            arg,
            value: value.into(),
            why: why.into(),
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The overall deadline; `None` = no limit (`--timeout 0`).
    pub timeout: Option<Duration>,
    /// First retry delay, also the floor of every delay.
    pub interval: Duration,
    /// Longest time one request may take.
    pub attempt_timeout: Duration,
    /// How to reach the Kubernetes API (unused by HTTP/TCP waits).
    pub kube: KubeSettings,
    /// How to talk to the user.
    pub output: Output,
    /// `--dry-run`: print instead of waiting.
    pub dry_run: Option<DryRun>,
    /// `--role-name`: the Role's name in `--dry-run=rbac` (and the base of the forbidden hint's).
    pub role_name: Option<String>,
    /// Record Events on kwait's own pod (`--no-events`: off).
    pub events: bool,
    /// What to wait for: one or more targets (joined by `--and`), awaited at once.
    pub targets: Vec<Planned>,
}

/// One target of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What to wait for.
    pub target: Target,
    /// `-n` given for this target alone (inside its `--and` segment).
    pub namespace: Option<String>,
    /// Longest retry delay: `--max-interval`, else 30 s for Kubernetes objects (the watch wakes
    /// the waiter anyway) and 2 s for network targets.
    pub max_interval: Duration,
}

impl Plan {
    /// The plan of a command line given as words (the program name left out), for tests.
    #[cfg(test)]
    pub(crate) fn from_words(words: &[&str]) -> Result<Plan, PlanError> {
        let argv = std::iter::once("kwait").chain(words.iter().copied());
        let cli = cli::parse(argv.map(std::ffi::OsString::from).collect())
            .map_err(|e| PlanError::Conflict(e.to_string()))?;
        Plan::from_cli(cli)
    }
}

/// How to reach the Kubernetes API.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    /// `-n`; `None` = the default chain (pod, context, `default`).
    pub namespace: Option<String>,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// Progress and report settings.
#[derive(Debug, Clone)]
pub struct Output {
    /// Text or JSON lines.
    pub format: Format,
    /// -1 quiet, 0 default, 1+ verbose.
    pub verbosity: i8,
    /// Where the final report also goes; `None` = the default (`/dev/termination-log` when writable).
    pub termination_log: Option<PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `kwait: ...` lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// What `--dry-run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    /// The plan and the RBAC rules in words.
    Plan,
    /// The RBAC rules as a Role.
    Rbac,
}

/// What to wait for.
#[derive(Debug, Clone)]
pub enum Target {
    /// `wait-secret`.
    Secret {
        /// The Secret's name.
        name: String,
        /// Keys that must be present and non-empty.
        keys: Vec<String>,
    },
    /// `wait-configmap`.
    ConfigMap {
        /// The ConfigMap's name.
        name: String,
        /// Keys that must be present and non-empty.
        keys: Vec<String>,
    },
    /// `wait-ready`.
    Ready(Box<ReadyTarget>),
    /// `wait-deleted`.
    Deleted(Box<DeletedTarget>),
    /// `wait-service`.
    Service {
        /// The Service's name.
        name: String,
        /// `--port`: a Service port's name or number.
        port: Option<String>,
        /// `--min-ready`: how many ready endpoints are needed (1 or more).
        min_ready: usize,
    },
    /// `wait-certificate`.
    Certificate {
        /// The Certificate's name.
        name: String,
        /// The expected `spec.secretName`, when given.
        secret_name: Option<String>,
        /// Whether to check the Secret named by `spec.secretName`.
        check_secret: bool,
    },
    /// `wait-job`.
    Job {
        /// By name or by label selector.
        select: JobSelect,
        /// With a selector: every matching Job must complete.
        all: bool,
        /// What a Job that is not there means.
        if_missing: IfMissing,
    },
    /// `wait-http`.
    Http(Box<HttpTarget>),
    /// `wait-tcp`.
    Tcp(TcpWait),
    /// `wait-redis`.
    Redis(RedisTarget),
    /// `wait-postgres`.
    Postgres(PostgresTarget),
    /// `wait-nats`.
    Nats(NatsTarget),
    /// `wait-rabbitmq`.
    Rabbitmq(RabbitmqTarget),
    /// `wait-mysql`.
    Mysql(MysqlTarget),
    /// `wait-dns`.
    Dns(DnsTarget),
    /// `wait-file`.
    File(FileTarget),
}

/// `wait-ready`: an object of any type, or the objects a selector matches.
#[derive(Debug, Clone)]
pub struct ReadyTarget {
    /// The type as given (`deploy`, `hr`, `widgets.example.com`), resolved by discovery.
    pub kind: String,
    /// What the table of known types says of it (for --dry-run's RBAC and the description).
    pub known: Option<kinds::Known>,
    /// By name, or by label selector.
    pub select: JobSelect,
    /// With a selector: one ready object is enough.
    pub any: bool,
    /// How to judge it.
    pub judge: ReadyJudge,
}

/// `wait-deleted`: an object of any type, or the objects a selector matches, to be gone.
#[derive(Debug, Clone)]
pub struct DeletedTarget {
    /// The type as given, resolved by discovery (as `wait-ready`'s).
    pub kind: String,
    /// What the table of known types says of it.
    pub known: Option<kinds::Known>,
    /// By name, or by label selector.
    pub select: JobSelect,
    /// With a selector: one of the objects matched at the start gone (or replaced) is enough.
    pub any: bool,
}

impl DeletedTarget {
    /// The type as a user reads it: its kind when known (`Job`), else as given.
    pub fn kind_shown(&self) -> &str {
        self.known.map_or(self.kind.as_str(), |k| k.kind)
    }
}

/// How `wait-ready` judges an object.
#[derive(Debug, Clone)]
pub enum ReadyJudge {
    /// Its kind's rules (kstatus).
    Rules,
    /// `--condition TYPE[=STATUS]`.
    Condition {
        /// The condition type.
        kind: String,
        /// The status wanted (`True` unless given).
        status: String,
    },
    /// `--json-path P [--equals V]`.
    JsonPath(JsonExpect),
}

impl ReadyTarget {
    /// The type as a user reads it: its kind when known (`Deployment`), else as given.
    pub fn kind_shown(&self) -> &str {
        self.known.map_or(self.kind.as_str(), |k| k.kind)
    }
}

/// How `wait-job` finds its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSelect {
    /// One Job by name.
    Name(String),
    /// The newest Job matching a label selector (or all of them).
    Selector(String),
}

/// `--if-missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// Keep waiting for the Job to appear.
    Wait,
    /// A missing Job counts as done (it ran and its TTL removed it).
    Succeed,
    /// A missing Job is a failure.
    Fail,
}

impl Target {
    /// Whether the target lives in the Kubernetes API.
    pub fn is_kube(&self) -> bool {
        !matches!(
            self,
            Target::Http(_) | Target::Tcp(_) | Target::Postgres(_) | Target::Redis(_)
        ) && !matches!(
            self,
            Target::Nats(_)
                | Target::Rabbitmq(_)
                | Target::Mysql(_)
                | Target::Dns(_)
                | Target::File(_)
        )
    }

    /// The Service whose ready endpoints wake a network check (`--service`).
    pub fn woken_by(&self) -> Option<&str> {
        match self {
            Target::Http(h) => h.service.as_deref(),
            Target::Tcp(t) => t.service.as_deref(),
            _ => None,
        }
    }

    /// Whether waiting for it talks to the API server: a Kubernetes object, or a network
    /// target woken by a Service's endpoints.
    pub fn needs_kube(&self) -> bool {
        self.is_kube() || self.woken_by().is_some()
    }

    /// The files its options name (a header file, a CA bundle), by option: `--dry-run` notes
    /// those that are not where it runs.
    pub fn files(&self) -> Vec<(&'static str, &std::path::Path)> {
        match self {
            Target::Http(h) => (h.header_files.iter())
                .map(|p| ("--header-file", p.as_path()))
                .chain(h.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            Target::Postgres(p) => (p.password_file.iter())
                .map(|f| ("--password-file", f.as_path()))
                .chain(p.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            Target::Redis(r) => (r.password_file.iter())
                .map(|f| ("--password-file", f.as_path()))
                .chain(r.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            Target::Nats(n) => (n.files.iter())
                .map(|(arg, f)| (*arg, f.as_path()))
                .chain(n.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            Target::Rabbitmq(r) => (r.password_file.iter())
                .map(|f| ("--password-file", f.as_path()))
                .chain(r.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            Target::Mysql(m) => std::iter::once(("--password-file", m.password_file.as_path()))
                .chain(m.tls.ca_cert().map(|p| ("--ca-cert", p)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Plan {
    /// Validates the command line.
    pub fn from_cli(cli: Invocation) -> Result<Plan, PlanError> {
        let g = cli.global;
        let timeout = parse_duration(&g.timeout)
            .map_err(|why| PlanError::invalid("--timeout", &g.timeout, why))?;
        let interval = parse_duration(&g.interval)
            .map_err(|why| PlanError::invalid("--interval", &g.interval, why))?;
        if interval.is_zero() {
            return Err(PlanError::invalid(
                "--interval",
                &g.interval,
                "must be more than 0",
            ));
        }
        let attempt_timeout = parse_duration(&g.attempt_timeout)
            .map_err(|why| PlanError::invalid("--attempt-timeout", &g.attempt_timeout, why))?;
        if attempt_timeout.is_zero() {
            return Err(PlanError::invalid(
                "--attempt-timeout",
                &g.attempt_timeout,
                "must be more than 0",
            ));
        }
        let dry_run = match g.dry_run.as_deref() {
            None => None,
            Some("plan") => Some(DryRun::Plan),
            Some("rbac") => Some(DryRun::Rbac),
            Some(other) => {
                return Err(PlanError::invalid(
                    "--dry-run",
                    other,
                    "expected --dry-run or --dry-run=rbac",
                ));
            }
        };
        let max_interval = match &g.max_interval {
            Some(s) => {
                let d = parse_duration(s)
                    .map_err(|why| PlanError::invalid("--max-interval", s, why))?;
                if d < interval {
                    return Err(PlanError::invalid(
                        "--max-interval",
                        s,
                        format!(
                            "must not be less than --interval ({})",
                            duration::format(interval)
                        ),
                    ));
                }
                Some(d)
            }
            None => None,
        };
        let mut targets = Vec::with_capacity(cli.commands.len());
        for segment in cli.commands {
            let target = target(segment.command, dry_run.is_some())?;
            let floor = if target.is_kube() {
                MIN_KUBE_INTERVAL
            } else {
                MIN_NET_INTERVAL
            };
            if interval < floor {
                return Err(PlanError::invalid(
                    "--interval",
                    &g.interval,
                    format!(
                        "must be at least {} for {}",
                        duration::format(floor),
                        if target.is_kube() {
                            "Kubernetes objects (the API server is shared; a watch wakes kwait anyway)"
                        } else {
                            "HTTP and TCP targets"
                        }
                    ),
                ));
            }
            if let Some(ns) = &segment.namespace {
                check_dns_label("--namespace", ns)?;
            }
            // Objects: a watch wakes the waiter, polling is only the fallback. Network waits:
            // a steady --interval (+5% spread) reacts as fast as a `sleep 1` loop at no more
            // checks a minute (README, "Why these network defaults").
            let default_max = if target.is_kube() {
                Duration::from_secs(30).max(interval)
            } else {
                interval.mul_f64(1.0 + NET_SPREAD)
            };
            targets.push(Planned {
                max_interval: max_interval.unwrap_or(default_max),
                namespace: segment.namespace,
                target,
            });
        }
        if let Some(ns) = &g.namespace {
            check_dns_label("--namespace", ns)?;
        }
        if let Some(name) = &g.role_name {
            check_object_name("--role-name", name)?;
        }
        if let Some(ctx) = &g.context
            && ctx.is_empty()
        {
            return Err(PlanError::invalid("--context", ctx, "must not be empty"));
        }
        let format = match g.log_format.as_str() {
            "text" => Format::Text,
            "json" => Format::Json,
            other => {
                return Err(PlanError::invalid(
                    "--log-format",
                    other,
                    "expected text or json",
                ));
            }
        };
        let verbosity = if g.quiet { -1 } else { g.verbose.min(3) as i8 };
        Ok(Plan {
            timeout: (!timeout.is_zero()).then_some(timeout),
            interval,
            attempt_timeout,
            kube: KubeSettings {
                namespace: g.namespace,
                kubeconfig: g.kubeconfig.filter(|p| !p.is_empty()).map(PathBuf::from),
                context: g.context,
            },
            output: Output {
                format,
                verbosity,
                termination_log: g.termination_log,
            },
            dry_run,
            role_name: g.role_name,
            events: !g.no_events,
            targets,
        })
    }
}

/// One command's target. In a dry run (`dry_run`), a file an option names that does not exist
/// here is not an error: the pod the arguments are meant for may have it (`--dry-run` says so).
fn target(command: Command, dry_run: bool) -> Result<Target, PlanError> {
    Ok(match command {
        Command::WaitSecret(cli::SecretArgs { name, keys }) => {
            check_object_name("NAME", &name)?;
            for key in &keys {
                check_secret_key(key)?;
            }
            Target::Secret { name, keys }
        }
        Command::WaitConfigmap(cli::ConfigMapArgs { name, keys }) => {
            check_object_name("NAME", &name)?;
            for key in &keys {
                check_secret_key(key)?;
            }
            Target::ConfigMap { name, keys }
        }
        Command::WaitReady(args) => Target::Ready(Box::new(ready_target(args)?)),
        Command::WaitDeleted(args) => {
            let (kind, select) = object_select("wait-deleted", &args.target, args.selector)?;
            Target::Deleted(Box::new(DeletedTarget {
                known: kinds::known(&kind),
                kind,
                select,
                any: args.any,
            }))
        }
        Command::WaitService(cli::ServiceArgs {
            name,
            port,
            min_ready,
        }) => {
            check_dns_label("NAME", &name)?;
            if let Some(p) = &port {
                let numeric = p.parse::<u16>().is_ok_and(|n| n > 0);
                if !numeric && !is_dns_label(p) {
                    return Err(PlanError::invalid(
                        "--port",
                        p,
                        "a Service port's number (1-65535) or name (lowercase letters, digits and '-')",
                    ));
                }
            }
            let min_ready = min_ready
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| {
                    PlanError::invalid("--min-ready", &min_ready, "a number from 1 to 100000")
                })?;
            Target::Service {
                name,
                port,
                min_ready,
            }
        }
        Command::WaitCertificate(cli::CertificateArgs {
            name,
            secret_name,
            no_secret_check,
        }) => {
            check_object_name("NAME", &name)?;
            if let Some(s) = &secret_name {
                check_object_name("--secret-name", s)?;
            }
            Target::Certificate {
                name,
                secret_name,
                check_secret: !no_secret_check,
            }
        }
        Command::WaitJob(cli::JobArgs {
            name,
            selector,
            all,
            if_missing,
        }) => {
            let select = match (name, selector) {
                (Some(name), None) => {
                    check_object_name("NAME", &name)?;
                    JobSelect::Name(name)
                }
                (None, Some(sel)) => {
                    check_label_selector(&sel)?;
                    JobSelect::Selector(sel)
                }
                _ => {
                    return Err(PlanError::Conflict(
                        "wait-job takes a NAME or -l SELECTOR, not both".into(),
                    ));
                }
            };
            let if_missing = match if_missing.as_str() {
                "wait" => IfMissing::Wait,
                "succeed" => IfMissing::Succeed,
                "fail" => IfMissing::Fail,
                other => {
                    return Err(PlanError::invalid(
                        "--if-missing",
                        other,
                        "expected wait, succeed or fail",
                    ));
                }
            };
            Target::Job {
                select,
                all,
                if_missing,
            }
        }
        Command::WaitHttp(args) => Target::Http(Box::new(net::http_target(args, dry_run)?)),
        Command::WaitTcp(args) => Target::Tcp(net::tcp_target(args)?),
        Command::WaitPostgres(args) => Target::Postgres(db::postgres_target(args, dry_run)?),
        Command::WaitRedis(args) => Target::Redis(redis::redis_target(args, dry_run)?),
        Command::WaitNats(args) => Target::Nats(broker::nats_target(args, dry_run)?),
        Command::WaitRabbitmq(args) => Target::Rabbitmq(broker::rabbitmq_target(args, dry_run)?),
        Command::WaitMysql(args) => Target::Mysql(mysql::mysql_target(args, dry_run)?),
        Command::WaitDns(args) => Target::Dns(local::dns_target(args)?),
        Command::WaitFile(args) => Target::File(local::file_target(args)?),
    })
}

/// The type and the object(s) of `wait-ready` and `wait-deleted` (`command`): `KIND/NAME`, or
/// `KIND` with `-l SELECTOR`.
fn object_select(
    command: &str,
    target: &str,
    selector: Option<String>,
) -> Result<(String, JobSelect), PlanError> {
    let (kind, select) = match (target.split_once('/'), selector) {
        (Some((kind, name)), None) => {
            check_object_name("KIND/NAME", name)?;
            (kind.to_string(), JobSelect::Name(name.to_string()))
        }
        (None, Some(sel)) => {
            check_label_selector(&sel)?;
            (target.to_string(), JobSelect::Selector(sel))
        }
        (Some(_), Some(_)) => {
            return Err(PlanError::Conflict(format!(
                "{command} takes KIND/NAME or KIND -l SELECTOR, not both"
            )));
        }
        (None, None) => {
            return Err(PlanError::invalid(
                "KIND/NAME",
                target,
                "give the object as KIND/NAME (e.g. deploy/web), or a KIND with -l SELECTOR",
            ));
        }
    };
    let kind_ok = !kind.is_empty()
        && kind.len() <= 253
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !kind_ok {
        return Err(PlanError::invalid(
            "KIND",
            &kind,
            "a resource type: a plural, singular, kind or short name, optionally .GROUP (e.g. deploy, hr, widgets.example.com)",
        ));
    }
    Ok((kind, select))
}

/// `wait-ready`'s target: `KIND/NAME`, or `KIND` with `-l`.
fn ready_target(args: cli::ReadyArgs) -> Result<ReadyTarget, PlanError> {
    let (kind, select) = object_select("wait-ready", &args.target, args.selector)?;
    let judge = match (args.condition, args.json_path) {
        (Some(c), _) => {
            let (kind, status) = match c.split_once('=') {
                Some((k, s)) => (k.to_string(), s.to_string()),
                None => (c.clone(), "True".to_string()),
            };
            let word = |s: &str| {
                !s.is_empty()
                    && s.len() <= 316
                    && s.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/')
                    })
            };
            if !word(&kind) || !word(&status) {
                return Err(PlanError::invalid(
                    "--condition",
                    &c,
                    "TYPE or TYPE=STATUS, e.g. Ready or Available=True",
                ));
            }
            ReadyJudge::Condition { kind, status }
        }
        (None, Some(path)) => ReadyJudge::JsonPath(JsonExpect {
            query: net::parse_json_path(&path)?,
            path,
            equals: args.equals,
        }),
        (None, None) => ReadyJudge::Rules,
    };
    Ok(ReadyTarget {
        known: kinds::known(&kind),
        kind,
        select,
        any: args.any,
        judge,
    })
}

/// A namespace: an RFC 1123 label (63 characters at most).
fn check_dns_label(arg: &'static str, s: &str) -> Result<(), PlanError> {
    if s.len() > 63 {
        return Err(PlanError::invalid(arg, s, "longer than 63 characters"));
    }
    if !is_dns_label(s) {
        return Err(PlanError::invalid(
            arg,
            s,
            "must be lowercase letters, digits and '-', starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An object name: an RFC 1123 subdomain (253 characters at most), as Secrets, Jobs and
/// Certificates require.
pub(crate) fn check_object_name(arg: &'static str, s: &str) -> Result<(), PlanError> {
    if s.is_empty() {
        return Err(PlanError::invalid(arg, s, "must not be empty"));
    }
    if s.len() > 253 {
        return Err(PlanError::invalid(arg, s, "longer than 253 characters"));
    }
    if !s.split('.').all(is_dns_label) {
        return Err(PlanError::invalid(
            arg,
            s,
            "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

/// A Secret data key: `[-._a-zA-Z0-9]+`, 253 characters at most.
fn check_secret_key(s: &str) -> Result<(), PlanError> {
    if s.is_empty() {
        return Err(PlanError::invalid("--key", s, "must not be empty"));
    }
    if s.len() > 253 {
        return Err(PlanError::invalid("--key", s, "longer than 253 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(PlanError::invalid(
            "--key",
            s,
            "may only contain letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// A label selector in the syntax the API server accepts: comma-separated requirements
/// `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`.
fn check_label_selector(sel: &str) -> Result<(), PlanError> {
    let bad = |why: &str| PlanError::invalid("--selector", sel, why.to_string());
    if sel.trim().is_empty() {
        return Err(bad("must not be empty"));
    }
    for req in split_selector(sel) {
        let req = req.trim();
        if req.is_empty() {
            return Err(bad("has an empty requirement"));
        }
        if let Some(key) = req.strip_prefix('!') {
            check_label_key(key.trim()).map_err(|w| bad(&w))?;
            continue;
        }
        let (key, values): (&str, Vec<&str>) = if let Some((k, v)) = req.split_once("!=") {
            (k, vec![v])
        } else if let Some((k, v)) = req.split_once("==") {
            (k, vec![v])
        } else if let Some((k, v)) = req.split_once('=') {
            (k, vec![v])
        } else if let Some((k, rest)) = req.split_once(" notin ").or_else(|| req.split_once(" in "))
        {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad("expects a list in parentheses after in/notin"))?;
            (k, inner.split(',').collect())
        } else {
            (req, vec![])
        };
        check_label_key(key.trim()).map_err(|w| bad(&w))?;
        for v in values {
            check_label_value(v.trim()).map_err(|w| bad(&w))?;
        }
    }
    Ok(())
}

/// Splits at commas that are not inside parentheses.
fn split_selector(sel: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&sel[start..]);
    parts
}

fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns_label))
    {
        return Err(format!("label key prefix {p:?} is not a DNS subdomain"));
    }
    if name.is_empty() || name.len() > 63 || !is_label_name(name) {
        return Err(format!(
            "label key {key:?} must be 63 characters at most of letters, digits, '-', '_', '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > 63 || !is_label_name(v) {
        return Err(format!(
            "label value {v:?} must be 63 characters at most of letters, digits, '-', '_', '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_the_api_server_accepts_pass() {
        for ok in [
            "app.kubernetes.io/component=migrations",
            "a=b,c!=d",
            "tier in (web, worker),!canary",
            "env notin (prod)",
            "job-name",
            "a==b",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_selectors_are_refused() {
        for bad in ["", "a=b,", "=x", "a in b", "a=b c", "-a=b", "a=/x"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_names_follow_rfc_1123_subdomains() {
        assert!(check_object_name("NAME", "litellm-api-user").is_ok());
        assert!(check_object_name("NAME", "a.b-c.d").is_ok());
        for bad in ["", "Upper", "-x", "x-", "a..b", "a_b", &"x".repeat(254)] {
            assert!(check_object_name("NAME", bad).is_err(), "{bad}");
        }
    }

    /// Issue #16: the network defaults grew the period to 2 s, which made wait-http react
    /// slower than a `sleep 1` loop. Now: a steady 1 s to 1.05 s; Kubernetes objects keep 30 s.
    #[test]
    fn network_waits_poll_steadily_at_the_interval_instead_of_growing_to_2s() {
        let plan = |args: &[&str]| Plan::from_words(args).unwrap();
        let max = |args: &[&str]| plan(args).targets[0].max_interval;
        for target in [
            &["wait-tcp", "db:5432"][..],
            &["wait-http", "http://x/"],
            &["wait-redis", "redis"],
            &["wait-postgres", "db"],
            &["wait-nats", "nats"],
            &["wait-rabbitmq", "rabbitmq"],
        ] {
            let p = plan(target);
            assert_eq!(p.interval, Duration::from_secs(1), "{target:?}");
            assert_eq!(max(target), Duration::from_millis(1050), "{target:?}");
        }
        assert_eq!(
            max(&["--interval", "4s", "wait-tcp", "db:5432"]),
            Duration::from_millis(4200)
        );
        assert_eq!(
            max(&["--max-interval", "30s", "wait-tcp", "db:5432"]),
            Duration::from_secs(30)
        );
        assert_eq!(max(&["wait-secret", "s"]), Duration::from_secs(30));
        // With --and, each target keeps its own kind's default.
        let p = plan(&["wait-secret", "s", "--and", "wait-tcp", "db:5432"]);
        assert_eq!(
            (p.targets[0].max_interval, p.targets[1].max_interval),
            (Duration::from_secs(30), Duration::from_millis(1050))
        );
    }
}
