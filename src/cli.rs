//! The command line: clap definitions only. Everything here is turned into a typed, validated
//! [`crate::plan::Plan`] by `plan.rs`; no clap type goes further than that.
//!
//! Values are taken as strings here and validated in `plan.rs`, so that every bad value gets the
//! same one-line error naming its argument.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  # A Deployment's init container: wait for the Secret a post-install hook Job creates
  kwait wait-secret litellm-api-user --key API_KEY --timeout 5m

  # Wait for cert-manager to issue a Certificate (and its TLS Secret to exist)
  kwait wait-certificate ai-ops-agent-cert

  # Wait for the newest migration Job; exit 1 at once if it failed
  kwait wait-job -l app.kubernetes.io/component=migrations

  # A pre-install hook: wait until the previous release's migration Job is gone
  kwait wait-deleted job/migrate

  # Wait for LiteLLM's readiness endpoint to report healthy
  kwait wait-http http://litellm:4000/health/readiness --json-path '$.status' --equals healthy

  # Wait for postgres to accept connections
  kwait wait-tcp postgres:5432

  # Several dependencies in one init container: all awaited at once, one deadline, one report
  kwait --timeout 5m wait-secret litellm-api-user --key API_KEY \\
        --and wait-http http://litellm:4000/health/readiness

  # Wait for Redis to answer PING (not LOADING), and for NATS to take the app's login
  kwait wait-redis redis --password-file /etc/redis/password
  kwait wait-nats nats://app@nats --password-file /etc/nats/password

  # Print the RBAC Role a wait needs, contacting nothing
  kwait --dry-run=rbac wait-secret litellm-api-user

Exit codes: 0 ready, 1 failed for good (e.g. the Job failed), 2 bad usage or configuration,
124 timed out, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
Every global option can also be set by its KWAIT_* environment variable (shown in brackets).";

const READY_RULES: &str = "\
Judged by the kstatus rules (sigs.k8s.io/cli-utils); a status for an older generation is never
ready. Where kwait differs on purpose (the README has the whole table):
  Job                  must complete (kstatus: a running Job is current); a suspended one has not
  LoadBalancer Service needs an ingress address, as Helm's --wait (kstatus: a cluster IP)
  custom resource      no status yet = not ready (kstatus: current)
  Ready condition      its own observedGeneration, else the status's, must be current
  Pod                  crash loop, Unschedulable: waited through, named at the deadline (kstatus:
                       failed); phase Failed fails (kstatus: current)
  Deployment           paused: judged by its counts and Available (kstatus: in progress for ever)
  StatefulSet          OnDelete: every replica ready (kstatus: current at once)
  DaemonSet            OnDelete: updated pods not awaited (kstatus: awaited)
  PVC, Stalled         a Lost claim fails (kstatus: in progress); Stalled of an older generation
                       waits (kstatus: failed)
--condition as kubectl wait: type and status compared without case; the condition's own
observedGeneration, else the status's, must be current. --json-path: RFC 9535, every match
must equal --equals (kubectl wait: its own dialect, refuses several matches); a match in a
status of an older generation is not ready.";

/// Wait until a Kubernetes dependency is really ready, and say why when it is not.
#[derive(Debug, Parser)]
#[command(name = "kwait", version = crate::version::VERSION, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Global options, accepted before or after the command.
    #[command(flatten)]
    pub global: Global,

    /// What to wait for.
    #[command(subcommand)]
    pub command: Command,
}

/// The name help and usage call kwait by: `kubectl kwait` when kubectl runs it as a plugin
/// (installed as `kubectl-kwait` on the PATH, kubectl execs it with argv[0] that path, and krew
/// links it under that name), else `kwait` whatever the file is called.
pub fn bin_name(argv0: Option<&OsStr>) -> &'static str {
    match argv0.and_then(|a| Path::new(a).file_name()) {
        Some(file) if file == "kubectl-kwait" => "kubectl kwait",
        _ => "kwait",
    }
}

/// Options every command takes. In every command's help they come after the command's own
/// options, under their own heading: `--namespace` means nothing to `wait-http`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Give up after this long: Go-style (90s, 5m, 1h30m, 250ms) or bare seconds; 0 = no limit
    #[arg(
        long,
        global = true,
        allow_hyphen_values = true,
        env = "KWAIT_TIMEOUT",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub timeout: String,

    /// First retry delay; later ones double up to --max-interval, with jitter (at least 100ms
    /// for Kubernetes objects, 10ms for HTTP/TCP)
    #[arg(
        long,
        global = true,
        allow_hyphen_values = true,
        env = "KWAIT_INTERVAL",
        default_value = "1s",
        value_name = "DURATION"
    )]
    pub interval: String,

    /// Longest retry delay [default: 30s for Kubernetes objects; for HTTP/TCP/Redis --interval
    /// plus 5% (1.05s): a steady 1s poll, as a shell loop's, with a little jitter]
    #[arg(
        long,
        global = true,
        allow_hyphen_values = true,
        env = "KWAIT_MAX_INTERVAL",
        value_name = "DURATION"
    )]
    pub max_interval: Option<String>,

    /// Longest time one request may take
    #[arg(
        long,
        global = true,
        allow_hyphen_values = true,
        env = "KWAIT_ATTEMPT_TIMEOUT",
        default_value = "10s",
        value_name = "DURATION"
    )]
    pub attempt_timeout: String,

    /// Namespace [default: the pod's own, else the kubeconfig context's, else "default"]
    #[arg(
        short,
        long,
        global = true,
        env = "KWAIT_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    pub namespace: Option<String>,

    /// Path to a kubeconfig file; empty = unset [default: $KUBECONFIG, in-cluster, ~/.kube/config]
    // An OsString, not a PathBuf: clap refuses an empty path, and an empty KWAIT_KUBECONFIG
    // means "unset", as kubectl treats an empty KUBECONFIG.
    #[arg(long, global = true, env = "KWAIT_KUBECONFIG", value_name = "PATH",
          value_parser = clap::value_parser!(std::ffi::OsString))]
    pub kubeconfig: Option<std::ffi::OsString>,

    /// The kubeconfig context to use
    #[arg(long, global = true, env = "KWAIT_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,

    /// Output format of progress lines and the report
    #[arg(
        long,
        global = true,
        env = "KWAIT_LOG_FORMAT",
        default_value = "text",
        value_name = "text|json"
    )]
    pub log_format: String,

    /// Print only the final report (on failure or timeout)
    #[arg(
        short,
        long,
        global = true,
        env = "KWAIT_QUIET",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    /// Print every check (-v)
    #[arg(short, long, global = true, env = "KWAIT_VERBOSE", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Also write the final report here [default: /dev/termination-log when writable]
    #[arg(
        long,
        global = true,
        env = "KWAIT_TERMINATION_LOG",
        value_name = "PATH"
    )]
    pub termination_log: Option<PathBuf>,

    /// Record no Events on kwait's own pod (recorded when POD_NAME and POD_NAMESPACE are set,
    /// for kubectl describe pod) and drop their RBAC rule
    #[arg(long, global = true, env = "KWAIT_NO_EVENTS",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_events: bool,

    /// Validate, print what would be waited for and the RBAC it needs, contact nothing;
    /// --dry-run=rbac prints the RBAC as a Role
    #[arg(long, global = true, env = "KWAIT_DRY_RUN", value_name = "rbac",
          num_args = 0..=1, require_equals = true, default_missing_value = "plan")]
    pub dry_run: Option<String>,

    /// The name of the Role (and ClusterRole) --dry-run=rbac prints [default: kwait-<first
    /// object>-<hash of its rules>: different rules, different names]
    #[arg(long, global = true, env = "KWAIT_ROLE_NAME", value_name = "NAME")]
    pub role_name: Option<String>,
}

/// The dependency kinds (named `wait-*` on the command line, as the contract says).
#[derive(Debug, Subcommand)]
#[allow(clippy::enum_variant_names)]
pub enum Command {
    /// Wait until a Secret exists and each --key is present and non-empty
    #[command(name = "wait-secret", visible_alias = "secret")]
    WaitSecret(SecretArgs),

    /// Wait until a ConfigMap exists and each --key is present and non-empty (values never printed)
    #[command(name = "wait-configmap", visible_aliases = ["configmap", "cm"])]
    WaitConfigmap(ConfigMapArgs),

    /// Wait until any Kubernetes object is ready by its kind's rules (kstatus', a few stricter)
    #[command(name = "wait-ready", visible_alias = "ready", after_help = READY_RULES)]
    WaitReady(ReadyArgs),

    /// Wait until an object is deleted: gone, or replaced by a new one of the same name
    #[command(name = "wait-deleted", visible_alias = "deleted", after_help = DELETED_EXAMPLES)]
    WaitDeleted(DeletedArgs),

    /// Wait until a Service has ready endpoints (over its EndpointSlices)
    #[command(name = "wait-service", visible_aliases = ["service", "svc"])]
    WaitService(ServiceArgs),

    /// Wait until a cert-manager Certificate is Ready for its current generation and its Secret exists
    #[command(name = "wait-certificate", visible_aliases = ["certificate", "cert"])]
    WaitCertificate(CertificateArgs),

    /// Wait until a Job completed; exit 1 at once when it failed
    #[command(name = "wait-job", visible_alias = "job")]
    WaitJob(JobArgs),

    /// Wait until an HTTP(S) endpoint answers as expected
    #[command(name = "wait-http", visible_alias = "http", after_help = SERVICE_WAKE)]
    WaitHttp(HttpArgs),

    /// Wait until a TCP port accepts connections
    #[command(name = "wait-tcp", visible_alias = "tcp", after_help = SERVICE_WAKE)]
    WaitTcp(TcpArgs),

    /// Wait until PostgreSQL accepts connections (as pg_isready judges it); with
    /// --password-file, until it logs in and answers SELECT 1
    #[command(name = "wait-postgres", visible_alias = "postgres")]
    WaitPostgres(PostgresArgs),
    /// Wait until Redis answers PING with PONG (not LOADING, BUSY or MASTERDOWN)
    #[command(name = "wait-redis", visible_alias = "redis")]
    WaitRedis(RedisArgs),

    /// Wait until NATS accepts a client: INFO, CONNECT (with the login given) and PING answered
    /// PONG
    #[command(name = "wait-nats", visible_alias = "nats")]
    WaitNats(NatsArgs),
    /// Wait until RabbitMQ accepts an AMQP 0-9-1 connection; with --password-file, until the
    /// user logs in and opens the vhost
    #[command(name = "wait-rabbitmq", visible_alias = "rabbitmq")]
    WaitRabbitmq(RabbitmqArgs),
    /// Wait until MySQL or MariaDB logs the user in and answers a ping in the database
    #[command(name = "wait-mysql", visible_aliases = ["mysql", "mariadb"])]
    WaitMysql(MysqlArgs),
    /// Wait until a DNS name resolves (to at least --min addresses or SRV targets)
    #[command(name = "wait-dns", visible_alias = "dns")]
    WaitDns(DnsArgs),
    /// Wait until a file exists (and is not empty, and matches)
    #[command(name = "wait-file", visible_alias = "file")]
    WaitFile(FileArgs),
}

/// `wait-secret NAME [--key KEY]...`
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// The Secret's name
    pub name: String,
    /// A key that must be present with a non-empty value (repeatable)
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
}

/// `wait-configmap NAME [--key KEY]...`
#[derive(Debug, Args)]
pub struct ConfigMapArgs {
    /// The ConfigMap's name
    pub name: String,
    /// A key that must be present (in data or binaryData) with a non-empty value (repeatable)
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
}

/// `wait-ready KIND/NAME` or `wait-ready KIND -l SELECTOR [--any]`
#[derive(Debug, Args)]
pub struct ReadyArgs {
    /// KIND/NAME (deploy/web, hr/podinfo, crd/certificates.cert-manager.io, pv/data), or KIND with
    /// -l; KIND is a plural, singular, kind or short name, optionally .GROUP
    pub target: String,
    /// A label selector: every matching object must be ready (see --any)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// With -l: one ready object is enough
    #[arg(long, requires = "selector")]
    pub any: bool,
    /// Judge by this condition instead of the kind's rules: TYPE or TYPE=STATUS (default True)
    #[arg(long, value_name = "TYPE[=STATUS]", conflicts_with = "json_path")]
    pub condition: Option<String>,
    /// Judge by an RFC 9535 JSONPath on the object instead, e.g. '$.status.phase'
    #[arg(long, value_name = "PATH")]
    pub json_path: Option<String>,
    /// With --json-path: the value found must equal this (strings compare unquoted)
    #[arg(long, value_name = "VALUE", requires = "json_path")]
    pub equals: Option<String>,
}

/// `wait-deleted KIND/NAME` or `wait-deleted KIND -l SELECTOR [--any]`
#[derive(Debug, Args)]
pub struct DeletedArgs {
    /// KIND/NAME (job/migrate, ns/old, widgets.example.com/w), or KIND with -l; KIND is a
    /// plural, singular, kind or short name, optionally .GROUP
    pub target: String,
    /// A label selector: every object it matches when the wait starts must be gone (see --any)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// With -l: one of the objects matched at the start gone (or replaced) is enough
    #[arg(long, requires = "selector")]
    pub any: bool,
}

const DELETED_EXAMPLES: &str = "\
Gone means: the object is not found (404), or the name now holds another object (another uid
than the one first seen). An object that does not exist when the wait starts is already gone
(as kubectl wait --for=delete). A type the API server does not serve is not taken for gone
(a typo looks the same as a removed CRD): kwait waits, naming it. While an object is held, the state
names its deletionTimestamp and every finalizer left on it. With -l, the objects are those the
selector matches at the first answer; objects created later are new ones, not waited for.
RBAC: get and watch on the object (list and watch with -l), as kwait --dry-run=rbac prints.

Examples:
  # A pre-install hook: wait for the previous release's migration Job to be gone
  kwait wait-deleted job/migrate --timeout 2m

  # Wait for a terminating namespace to go before creating it again
  kwait wait-deleted ns/old

  # Wait until every pod of the old version is gone, or until any one of them is
  kwait wait-deleted pods -l app=web,version=v1
  kwait wait-deleted pods -l app=web,version=v1 --any";

/// `wait-service NAME [--port P] [--min-ready N]`
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The Service's name
    pub name: String,
    /// Count only endpoints for this Service port (its name or number)
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// How many ready endpoints are needed
    #[arg(long, value_name = "N", default_value = "1")]
    pub min_ready: String,
}

/// `wait-certificate NAME`
#[derive(Debug, Args)]
pub struct CertificateArgs {
    /// The Certificate's name (certificates.cert-manager.io)
    pub name: String,
    /// The Secret the Certificate writes (spec.secretName); names it in --dry-run=rbac and
    /// checks that spec.secretName agrees
    #[arg(long, value_name = "NAME")]
    pub secret_name: Option<String>,
    /// Do not check the Secret named by spec.secretName (when kwait may not read Secrets)
    #[arg(long)]
    pub no_secret_check: bool,
}

/// `wait-job (NAME | -l SELECTOR)`
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The Job's name
    #[arg(required_unless_present = "selector", conflicts_with = "selector")]
    pub name: Option<String>,
    /// A label selector; the newest matching Job counts (see --all)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// With -l: every matching Job must complete
    #[arg(long, requires = "selector")]
    pub all: bool,
    /// What a Job that is not there means: keep waiting, success (it ran and was deleted by
    /// its TTL), or failure
    #[arg(long, value_name = "wait|succeed|fail", default_value = "wait")]
    pub if_missing: String,
}

/// `--service` on `wait-http` and `wait-tcp`.
const SERVICE_WAKE: &str = "\
--service NAME: the Service the target is reached through, in the target's namespace. kwait
watches its EndpointSlices and checks at once whenever its set of ready endpoints changes, then
again about 50, 100, 200 and 400 ms later (kube-proxy routes to a new endpoint a little after
the slice changes), then on the steady period: the wait ends within milliseconds of the pod
turning Ready instead of up to a poll later, at no more requests while nothing changes.
Readiness is still judged by the answer alone: the endpoints decide when to look, and appear in
the state line (\"Service crs/web: 0 of 2 endpoints ready\"). It needs list and watch on
endpointslices (discovery.k8s.io) in that namespace, which --dry-run=rbac adds; without them
kwait polls as without --service and says so.";

/// `wait-http URL ...`
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The URL (http:// or https://)
    pub url: String,
    /// Accepted status codes and ranges, e.g. 200-299,304
    #[arg(long, value_name = "CODES", default_value = "200-299")]
    pub status: String,
    /// The body must contain this text
    #[arg(long, value_name = "TEXT", conflicts_with = "body_regex")]
    pub body_contains: Option<String>,
    /// The body must match this regular expression
    #[arg(long, value_name = "REGEX")]
    pub body_regex: Option<String>,
    /// An RFC 9535 JSONPath that must match something in the JSON body, e.g. '$.status'
    #[arg(long, value_name = "PATH")]
    pub json_path: Option<String>,
    /// With --json-path: the value found must equal this (strings compare unquoted)
    #[arg(long, value_name = "VALUE", requires = "json_path")]
    pub equals: Option<String>,
    /// A request header 'Name: value' (repeatable); prefer --header-file for secrets
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// A file of request headers, one 'Name: value' a line (keeps tokens out of argv)
    #[arg(long, value_name = "PATH")]
    pub header_file: Vec<PathBuf>,
    /// The request method
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// How an https:// server's certificate is checked
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Judge a redirect itself instead of following it
    #[arg(long)]
    pub no_follow_redirects: bool,
    /// The Service the target is reached through (in the target's namespace): check at once
    /// when its ready endpoints change (below)
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

/// `wait-tcp HOST:PORT [--send S] [--expect REGEX]`
#[derive(Debug, Args)]
pub struct TcpArgs {
    /// HOST:PORT, e.g. postgres:5432 or [::1]:5432
    pub address: String,
    /// Send this once connected; escapes \r \n \t \\ \xHH, e.g. 'PING\r\n' (needs --expect)
    #[arg(long, value_name = "TEXT")]
    pub send: Option<String>,
    /// The first answer (up to 4 KiB, until 1s of silence) must match this regular expression,
    /// e.g. '^INFO ' for NATS
    #[arg(long, value_name = "REGEX")]
    pub expect: Option<String>,
    /// The Service the target is reached through (in the target's namespace): check at once
    /// when its ready endpoints change (below)
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

/// `wait-redis HOST[:PORT] [--password-file F] [--user U] [--tls]`
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// HOST[:PORT] (default port 6379), e.g. redis or redis-master.cache:6380
    pub address: String,
    /// A file holding the password sent with AUTH (e.g. a mounted Secret key); never printed
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// An ACL user to AUTH as (needs --password-file)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// `--tls` and how the server's certificate is checked
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `wait-nats ADDRESS [--user U] [--password-file F | --token-file F] [--tls]`
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// HOST[:PORT] (default port 4222) or nats://[USER@]HOST[:PORT], e.g. nats or
    /// nats://app@nats.msg:4222
    pub address: String,
    /// The user to log in as (or USER@ in the nats:// address; needs --password-file)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// A file holding the user's password (e.g. a mounted Secret key); never printed
    #[arg(long, value_name = "PATH", conflicts_with = "token_file")]
    pub password_file: Option<PathBuf>,
    /// A file holding an authorization token (instead of a user and password); never printed
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// `--tls` (after the server's plaintext INFO) and how its certificate is checked
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `wait-mysql HOST[:PORT] --user U --password-file F [--database DB] [--tls]`
#[derive(Debug, Args)]
pub struct MysqlArgs {
    /// HOST[:PORT] (port 3306 when not given), e.g. mysql or mariadb.db.svc:3307
    pub address: String,
    /// The user to log in as
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// A file holding the password (e.g. a mounted Secret key); never printed
    #[arg(long, value_name = "PATH")]
    pub password_file: PathBuf,
    /// The database that must exist and be usable by the user (COM_INIT_DB)
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// `--tls` (negotiated with an SSLRequest) and how the server's certificate is checked
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `wait-rabbitmq ADDRESS [--user U] [--password-file F] [--vhost V] [--tls]`
#[derive(Debug, Args)]
pub struct RabbitmqArgs {
    /// HOST[:PORT] (default port 5672), amqp://USER@HOST[:PORT][/VHOST], or amqps://... (TLS,
    /// port 5671); the vhost is URL-decoded (%2F is /), none is /
    pub address: String,
    /// The user to log in as (or USER@ in the URL; needs --password-file)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// A file holding the user's password: kwait then logs in (PLAIN) and opens the vhost;
    /// never printed
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// The virtual host to open (needs --password-file) [default: the URL's, else /]
    #[arg(long, value_name = "VHOST")]
    pub vhost: Option<String>,
    /// `--tls` (implied by amqps://) and how the server's certificate is checked
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `wait-dns NAME [--type A|AAAA|SRV] [--min N]`
#[derive(Debug, Args)]
pub struct DnsArgs {
    /// The name, resolved as every name kwait connects to (/etc/hosts, the search list, ndots),
    /// e.g. db-0.db.crs.svc or _postgresql._tcp.db.crs.svc.cluster.local with --type SRV
    pub name: String,
    /// The records to count: A or AAAA addresses (through the system resolver), or SRV targets
    /// (asked of the resolv.conf name servers)
    #[arg(long = "type", value_name = "A|AAAA|SRV")]
    pub kind: Option<String>,
    /// How many distinct addresses (or SRV targets) are needed
    #[arg(long, value_name = "N", default_value = "1")]
    pub min: String,
}

/// `wait-file PATH [--nonempty] [--contains REGEX]`
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The file (a regular file; symbolic links are followed, as in a mounted Secret)
    pub path: PathBuf,
    /// The file must not be empty
    #[arg(long)]
    pub nonempty: bool,
    /// The file's first 1 MiB must match this regular expression (regex syntax, ASCII classes)
    #[arg(long, value_name = "REGEX")]
    pub contains: Option<String>,
}

/// `--tls` and its trust options, the same for `wait-postgres` and `wait-redis` (validated
/// once, by `plan::tls_choice`).
#[derive(Debug, Default, Args)]
pub struct TlsArgs {
    /// Connect with TLS; the server's certificate is verified
    #[arg(long)]
    pub tls: bool,
    /// How the server's certificate is checked (with --tls)
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// How a server's TLS certificate is checked: `wait-http` (for https://), and `wait-postgres`
/// and `wait-redis` with `--tls`. One wording, true for all three.
#[derive(Debug, Default, Args)]
pub struct TrustArgs {
    /// A PEM file of CA certificates to trust (instead of the system bundle)
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (kwait prints a warning)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// The word that joins several commands in one run.
pub const AND: &str = "--and";

/// A command line: the global options and the commands joined by [`AND`].
#[derive(Debug)]
pub struct Invocation {
    /// The global options (given before the first command; with one command, also after it).
    pub global: Global,
    /// The commands, in order, each with the `-n` given inside its own segment.
    pub commands: Vec<Segment>,
}

/// One command of an [`Invocation`].
#[derive(Debug)]
pub struct Segment {
    /// What to wait for.
    pub command: Command,
    /// `-n/--namespace` given after this command (with several commands: for it alone).
    pub namespace: Option<String>,
}

/// Why a command line was refused.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// clap's own error (or help and version, which are not errors to the user).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// `--and` misplaced, or a run-wide option given inside a segment.
    #[error("{0}")]
    And(String),
}

/// Parses `args` (the program name first). Without `--and` this is exactly clap's parse of
/// [`Cli`]: global options may come before or after the command. With it, the line is split on
/// every standalone `--and`; the global options come before the first command and apply to every
/// target, and each segment may carry only `-n/--namespace` for its own target.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, CliError> {
    let Some((program, rest)) = args.split_first() else {
        return Err(CliError::And("no program name".into()));
    };
    // Help and usage name kwait as it was run: `kubectl kwait` as a kubectl plugin.
    let name = bin_name(Some(program.as_os_str()));
    let command = || Cli::command().bin_name(name);
    let segments: Vec<&[OsString]> = rest.split(|a| a == AND).collect();
    if segments.len() == 1 {
        let mut cmd = command();
        let matches = cmd.try_get_matches_from_mut(&args)?;
        let namespace = given(&matches, "namespace");
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
        return Ok(Invocation {
            commands: vec![Segment {
                command: cli.command,
                namespace,
            }],
            global: cli.global,
        });
    }
    let example = "e.g. kwait --timeout 5m wait-secret app-token --and wait-job migrate";
    if segments.first().is_some_and(|s| s.is_empty()) {
        return Err(CliError::And(format!(
            "{AND} must come between two commands: nothing before the first {AND} ({example})"
        )));
    }
    if segments.last().is_some_and(|s| s.is_empty()) {
        return Err(CliError::And(format!(
            "{AND} must come between two commands: nothing after the last {AND} ({example})"
        )));
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err(CliError::And(format!(
            "{AND} must come between two commands: two {AND} in a row ({example})"
        )));
    }
    // The global options end where the first command begins.
    let first = segments[0];
    let at = command_index(&command(), first).unwrap_or(first.len());
    if at == first.len() {
        return Err(CliError::And(format!(
            "no command before the first {AND} ({example})"
        )));
    }
    let mut head = vec![program.clone()];
    head.extend_from_slice(&first[..at]);
    let mut globals = Globals::command().bin_name(name);
    let matches = globals.try_get_matches_from_mut(head)?;
    let global = Globals::from_arg_matches(&matches)
        .map_err(|e| e.format(&mut globals))?
        .global;
    let mut commands = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let seg = if i == 0 { &first[at..] } else { seg };
        let mut argv = vec![program.clone()];
        argv.extend_from_slice(seg);
        let mut cmd = command();
        let matches = cmd.try_get_matches_from_mut(argv)?;
        if let Some(arg) = run_wide_option_given(&matches) {
            return Err(CliError::And(format!(
                "--{arg} applies to the whole run: give it before the first command, not inside command {} (only -n/--namespace may be given for one target)",
                i + 1
            )));
        }
        let namespace = given(&matches, "namespace");
        commands.push(Segment {
            command: Cli::from_arg_matches(&matches)
                .map_err(|e| e.format(&mut cmd))?
                .command,
            namespace,
        });
    }
    Ok(Invocation { global, commands })
}

/// The global options alone: what comes before the first command of a line with `--and`.
#[derive(Debug, Parser)]
#[command(name = "kwait", version = crate::version::VERSION)]
struct Globals {
    #[command(flatten)]
    global: Global,
}

/// The value of `id` when it was given on this command line (not by its environment variable
/// or default).
fn given(matches: &ArgMatches, id: &str) -> Option<String> {
    let sub = matches.subcommand().map(|(_, m)| m);
    [Some(matches), sub].into_iter().flatten().find_map(|m| {
        (m.value_source(id) == Some(ValueSource::CommandLine))
            .then(|| m.get_one::<String>(id).cloned())
            .flatten()
    })
}

/// The first global option other than `--namespace` given on this command line, by its long name.
fn run_wide_option_given(matches: &ArgMatches) -> Option<String> {
    let sub = matches.subcommand().map(|(_, m)| m);
    Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_id() != "namespace")
        .find(|a| {
            [Some(matches), sub]
                .into_iter()
                .flatten()
                .any(|m| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        })
        .map(|a| a.get_long().unwrap_or(a.get_id().as_str()).to_string())
}

/// Where the command begins in `args` (the program name excluded): the first word that is not an
/// option or an option's value, as clap reads them (`--timeout 5m`, `--timeout=5m`, `-n crs`,
/// `-ncrs`, `-qv`, `--dry-run` and `--dry-run=rbac`). `None` when there is none.
fn command_index(cmd: &clap::Command, args: &[OsString]) -> Option<usize> {
    let takes_value = |a: &clap::Arg| a.get_action().takes_values() && !a.is_require_equals_set();
    let mut i = 0;
    while i < args.len() {
        let word = args[i].to_string_lossy();
        if word == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if let Some(long) = word.strip_prefix("--") {
            let needs = !long.contains('=')
                && cmd
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && takes_value(a));
            if needs {
                i += 1;
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // `-qv`: flags; `-n crs` or `-ncrs`: a value, attached or next.
            for (k, c) in shorts.char_indices() {
                if cmd
                    .get_arguments()
                    .any(|a| a.get_short() == Some(c) && takes_value(a))
                {
                    if k + c.len_utf8() == shorts.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `wait-postgres HOST[:PORT] ...`
#[derive(Debug, Args)]
pub struct PostgresArgs {
    /// HOST[:PORT] (port 5432 when not given), e.g. postgres or [::1]:5433
    pub address: String,
    /// The user to log in as
    #[arg(long, value_name = "NAME", default_value = "postgres")]
    pub user: String,
    /// The database to connect to [default: the user's name]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// A file holding the password: kwait then logs in (SCRAM-SHA-256 or MD5) and runs SELECT 1
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// `--tls` (negotiated with an SSLRequest) and how the server's certificate is checked
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
        Globals::command().debug_assert();
    }

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("kwait")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn the_command_begins_after_the_global_options_and_their_values() {
        let cmd = Cli::command();
        let at = |line: &str| command_index(&cmd, &argv(line)[1..]);
        assert_eq!(at("wait-secret a"), Some(0));
        assert_eq!(at("--timeout 5m -n crs wait-secret a"), Some(4));
        assert_eq!(at("--timeout=5m -ncrs -qv wait-job a"), Some(3));
        assert_eq!(at("--dry-run=rbac --dry-run wait-job a"), Some(2));
        assert_eq!(at("-vvv --kubeconfig k --context c wait-job a"), Some(5));
        assert_eq!(at("--timeout 5m"), None);
    }

    #[test]
    fn and_joins_commands_with_globals_first_and_a_namespace_per_segment() {
        let inv = parse(argv(
            "--timeout 1m -n crs wait-secret a --key K --and wait-job migrate -n jobs --and wait-tcp db:5432",
        ))
        .unwrap();
        assert_eq!(inv.global.timeout, "1m");
        assert_eq!(inv.global.namespace.as_deref(), Some("crs"));
        let ns: Vec<_> = inv
            .commands
            .iter()
            .map(|c| c.namespace.as_deref())
            .collect();
        assert_eq!(ns, [None, Some("jobs"), None]);
        assert!(matches!(&inv.commands[0].command, Command::WaitSecret(s) if s.keys == ["K"]));
        assert!(matches!(&inv.commands[2].command, Command::WaitTcp(_)));
    }

    #[test]
    fn one_command_parses_as_before_with_global_options_after_it() {
        let inv = parse(argv("wait-secret a --timeout 7s -n crs")).unwrap();
        assert_eq!(inv.global.timeout, "7s");
        assert_eq!(inv.global.namespace.as_deref(), Some("crs"));
        assert_eq!(inv.commands.len(), 1);
    }

    #[test]
    fn a_misplaced_and_or_run_wide_option_is_refused_with_one_line() {
        for (line, says) in [
            ("--and wait-secret a", "nothing before the first --and"),
            ("wait-secret a --and", "nothing after the last --and"),
            ("wait-secret a --and --and wait-job b", "two --and in a row"),
            (
                "--timeout 5m --and wait-job b",
                "no command before the first --and",
            ),
            (
                "wait-secret a --and wait-job b --timeout 5m",
                "--timeout applies to the whole run",
            ),
        ] {
            match parse(argv(line)) {
                Err(CliError::And(m)) => {
                    assert!(m.contains(says), "{line}: {m}");
                    assert!(!m.contains('\n'), "{line}: {m}");
                }
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    /// [`parse`]'s clap error, for the help tests.
    fn try_parse_from(args: [OsString; 3]) -> Result<Invocation, clap::Error> {
        match parse(args.to_vec()) {
            Ok(inv) => Ok(inv),
            Err(CliError::Clap(e)) => Err(e),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn run_as_kubectl_kwait_help_and_usage_say_kubectl_kwait() {
        for argv0 in ["kubectl-kwait", "/home/u/.krew/bin/kubectl-kwait"] {
            let Err(e) = try_parse_from([argv0, "wait-tcp", "--help"].map(OsString::from)) else {
                panic!("--help did not end the parse");
            };
            let help = e.render().to_string();
            assert!(
                help.contains("Usage: kubectl kwait wait-tcp [OPTIONS] <ADDRESS>"),
                "{help}"
            );
        }
        for argv0 in [
            "kwait",
            "/usr/local/bin/kwait",
            "kubectl-kwait-old",
            "kwait-kubectl",
        ] {
            let Err(e) = try_parse_from([argv0, "wait-tcp", "--help"].map(OsString::from)) else {
                panic!("--help did not end the parse");
            };
            assert!(
                e.render().to_string().contains("Usage: kwait wait-tcp"),
                "{argv0}"
            );
        }
        assert!(
            try_parse_from(["kubectl-kwait", "wait-tcp", "db:5432"].map(OsString::from)).is_ok()
        );
        // Joined by --and, too.
        let Err(CliError::Clap(e)) = parse(
            [
                "kubectl-kwait",
                "wait-tcp",
                "db:5432",
                "--and",
                "wait-tcp",
                "--help",
            ]
            .map(OsString::from)
            .to_vec(),
        ) else {
            panic!("--help did not end the parse");
        };
        assert!(
            e.render()
                .to_string()
                .contains("Usage: kubectl kwait wait-tcp"),
            "{}",
            e.render()
        );
    }
}
