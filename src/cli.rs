//! The command line: clap definitions only. Everything here is turned into a typed, validated
//! [`crate::plan::Plan`] by `plan.rs`; no clap type goes further than that.
//!
//! Values are taken as strings here and validated in `plan.rs`, so that every bad value gets the
//! same one-line error naming its argument.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  # A Deployment's init container: wait for the Secret a post-install hook Job creates
  kwait wait-secret litellm-api-user --key API_KEY --timeout 5m

  # Wait for cert-manager to issue a Certificate (and its TLS Secret to exist)
  kwait wait-certificate ai-ops-agent-cert

  # Wait for the newest migration Job; exit 1 at once if it failed
  kwait wait-job -l app.kubernetes.io/component=migrations

  # Wait for LiteLLM's readiness endpoint to report healthy
  kwait wait-http http://litellm:4000/health/readiness --json-path '$.status' --equals healthy

  # Wait for postgres to accept connections
  kwait wait-tcp postgres:5432

  # Wait for Redis to answer PING (not LOADING), and for NATS to send its INFO banner
  kwait wait-redis redis --password-file /etc/redis/password
  kwait wait-tcp nats:4222 --expect '^INFO '

  # Print the RBAC Role a wait needs, contacting nothing
  kwait --dry-run=rbac wait-secret litellm-api-user

Exit codes: 0 ready, 1 failed for good (e.g. the Job failed), 2 bad usage or configuration,
124 timed out, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
Every global option can also be set by its KWAIT_* environment variable (shown in brackets).";

/// Wait until a Kubernetes dependency is really ready, and say why when it is not.
#[derive(Debug, Parser)]
#[command(name = "kwait", version = crate::VERSION, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Global options, accepted before or after the command.
    #[command(flatten)]
    pub global: Global,

    /// What to wait for.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
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

    /// Validate, print what would be waited for and the RBAC it needs, contact nothing;
    /// --dry-run=rbac prints the RBAC as a Role
    #[arg(long, global = true, env = "KWAIT_DRY_RUN", value_name = "rbac",
          num_args = 0..=1, require_equals = true, default_missing_value = "plan")]
    pub dry_run: Option<String>,
}

/// The dependency kinds (named `wait-*` on the command line, as the contract says).
#[derive(Debug, Subcommand)]
#[allow(clippy::enum_variant_names)]
pub enum Command {
    /// Wait until a Secret exists and each --key is present and non-empty
    #[command(name = "wait-secret", visible_alias = "secret")]
    WaitSecret(SecretArgs),

    /// Wait until a cert-manager Certificate is Ready for its current generation and its Secret exists
    #[command(name = "wait-certificate", visible_aliases = ["certificate", "cert"])]
    WaitCertificate(CertificateArgs),

    /// Wait until a Job completed; exit 1 at once when it failed
    #[command(name = "wait-job", visible_alias = "job")]
    WaitJob(JobArgs),

    /// Wait until an HTTP(S) endpoint answers as expected
    #[command(name = "wait-http", visible_alias = "http")]
    WaitHttp(HttpArgs),

    /// Wait until a TCP port accepts connections
    #[command(name = "wait-tcp", visible_alias = "tcp")]
    WaitTcp(TcpArgs),

    /// Wait until Redis answers PING with PONG (not LOADING, BUSY or MASTERDOWN)
    #[command(name = "wait-redis", visible_alias = "redis")]
    WaitRedis(RedisArgs),
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
    /// A PEM file of CA certificates to trust for https://
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (prints a warning)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Judge a redirect itself instead of following it
    #[arg(long)]
    pub no_follow_redirects: bool,
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
    /// Connect with TLS
    #[arg(long)]
    pub tls: bool,
    /// With --tls: a PEM file of CA certificates to trust
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// With --tls: do not verify the server's certificate (prints a warning)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
