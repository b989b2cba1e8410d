//! Who kwait is to the API server: the kubeconfig user (token, token file, basic, client
//! certificate, exec credential plugin, OIDC `id-token`, impersonation) or the in-cluster
//! service account (its token file, re-read on every request so a rotated token is used at once).
//!
//! kube's `config` feature parses the kubeconfig; this module turns its `AuthInfo` into request
//! headers and a client identity, the part kube-rs keeps behind its own HTTP stack.
//!
//! An exec credential plugin runs lazily, when a request needs its credential: inside a check,
//! so within that check's budget (and never longer than `--attempt-timeout`), one run at a time,
//! in its own process group, which is killed when the run overruns or is abandoned. Its output
//! is read with a cap. A plugin that fails is a pending `Unauthorized` observation, retried like
//! a 401; only a command that cannot be found or executed is a configuration error (exit 2).

use std::io::{IsTerminal, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{ApiError, ConfigError};
use crate::check::Class;
use crate::net::file::read_capped;
use crate::net::text::{lock, printable};

/// A token file (kubeconfig `tokenFile`, the in-cluster token) holds one token.
const TOKEN_FILE_LIMIT: u64 = 64 * 1024;
/// A client certificate chain, a key or a CA bundle.
pub(super) const PEM_FILE_LIMIT: u64 = 1024 * 1024;
/// What an exec plugin may print on stdout (an ExecCredential is a few KiB).
const EXEC_STDOUT_LIMIT: u64 = 1024 * 1024;
/// How much of an exec plugin's stderr is kept (its last line is quoted).
const EXEC_STDERR_KEEP: usize = 64 * 1024;

/// A client certificate chain and its key, for mutual TLS.
pub(super) struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Where the `Authorization` header comes from.
enum Credentials {
    None,
    /// A fixed header (`token`, `username`/`password`, an OIDC `id-token`).
    Fixed(HeaderValue),
    /// `tokenFile` (and the in-cluster token): read on every request.
    File(PathBuf),
    /// An exec plugin, run when its credential is missing, expiring, or refused.
    Exec(Box<Exec>),
}

/// An exec credential plugin and what it last returned.
struct Exec {
    config: ExecConfig,
    /// The command, checked at start to exist and be executable.
    command: String,
    /// The longest one run may take (`--attempt-timeout`); the check's own budget may be less.
    budget: Duration,
    /// Single flight: a request that needs the credential waits for the run in progress.
    state: tokio::sync::Mutex<ExecState>,
    /// The server answered 401: run the plugin again before the next request.
    rejected: AtomicBool,
}

#[derive(Default)]
struct ExecState {
    /// The last credential: its header (when the plugin returned a token) and its expiry.
    cached: Option<(Option<HeaderValue>, Option<SystemTime>)>,
    /// The client certificate last handed to the connection, to notice a new one.
    cert: Option<String>,
}

/// What a request carries: headers, and a new client identity when an exec plugin returned a
/// different client certificate (the connection must be rebuilt with it).
pub(super) struct Applied {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub identity: Option<Identity>,
}

/// Request authentication for one client.
pub(super) struct Auth {
    credentials: Credentials,
    impersonation: Vec<(HeaderName, HeaderValue)>,
}

impl Auth {
    /// Builds the credentials for `info`. An exec plugin is not run here (it runs when a request
    /// needs it, within that request's budget); its command must exist and be executable.
    /// `budget` bounds one plugin run.
    pub(super) fn new(
        info: &AuthInfo,
        budget: Duration,
    ) -> Result<(Auth, Option<Identity>), ConfigError> {
        let identity = identity(info)?;
        let credentials = if let Some(provider) = &info.auth_provider {
            match (provider.name.as_str(), provider.config.get("id-token")) {
                ("oidc", Some(token)) => Credentials::Fixed(bearer(token)?),
                (name, _) => {
                    return Err(ConfigError::Unusable(format!(
                        "auth-provider {name:?} is not supported (kubectl dropped auth providers); use an exec credential plugin (e.g. kubelogin, gke-gcloud-auth-plugin)"
                    )));
                }
            }
        } else if let (Some(user), Some(password)) = (&info.username, &info.password) {
            crate::net::text::add_secret(password.expose_secret());
            let raw = format!("{user}:{}", password.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            Credentials::Fixed(sensitive(&format!("Basic {encoded}"))?)
        } else if let Some(token) = &info.token {
            Credentials::Fixed(bearer(token.expose_secret())?)
        } else if let Some(file) = &info.token_file {
            let path = PathBuf::from(file);
            read_token(&path).map_err(|e| ConfigError::Unusable(e.message))?;
            Credentials::File(path)
        } else if let Some(exec) = &info.exec {
            Credentials::Exec(Box::new(Exec {
                command: executable_command(exec)?,
                config: exec.clone(),
                budget,
                state: tokio::sync::Mutex::new(ExecState::default()),
                rejected: AtomicBool::new(false),
            }))
        } else {
            Credentials::None
        };
        let mut impersonation = Vec::new();
        let mut add = |name: &'static str, value: &str| -> Result<(), ConfigError> {
            let value = HeaderValue::from_str(value)
                .map_err(|_| ConfigError::Unusable(format!("{name}: not a valid header value")))?;
            impersonation.push((HeaderName::from_static(name), value));
            Ok(())
        };
        if let Some(user) = &info.impersonate {
            add("impersonate-user", user)?;
        }
        if let Some(uid) = &info.impersonate_uid {
            add("impersonate-uid", uid)?;
        }
        for group in info.impersonate_groups.iter().flatten() {
            add("impersonate-group", group)?;
        }
        Ok((
            Auth {
                credentials,
                impersonation,
            },
            identity,
        ))
    }

    /// The in-cluster service account: its token file.
    pub(super) fn token_file(path: PathBuf) -> Auth {
        Auth {
            credentials: Credentials::File(path),
            impersonation: Vec::new(),
        }
    }

    /// [`Auth::headers_within`] without a check's budget.
    #[cfg(test)]
    pub(super) async fn headers(&self) -> Result<Applied, ApiError> {
        self.headers_within(None).await
    }

    /// The `Authorization` and impersonation headers for the next request; runs the exec plugin
    /// when its credential is missing, expiring or was refused (drop the future to kill it),
    /// within `within` (what is left of the check's budget) when that is less than its own.
    pub(super) async fn headers_within(
        &self,
        within: Option<Duration>,
    ) -> Result<Applied, ApiError> {
        let mut identity = None;
        let header = match &self.credentials {
            Credentials::None => None,
            Credentials::Fixed(h) => Some(h.clone()),
            Credentials::File(path) => Some(read_token(path)?),
            Credentials::Exec(exec) => {
                let (header, id) = exec.credential(within).await?;
                identity = id;
                header
            }
        };
        let mut headers = self.impersonation.clone();
        if let Some(h) = header {
            headers.insert(0, (AUTHORIZATION, h));
        }
        Ok(Applied { headers, identity })
    }

    /// The server answered 401: an exec credential is fetched again before the next request.
    pub(super) fn rejected(&self) {
        if let Credentials::Exec(exec) = &self.credentials {
            exec.rejected.store(true, Ordering::SeqCst);
        }
    }
}

impl Exec {
    /// The current credential, running the plugin (one run at a time) when needed; a new
    /// client identity when the plugin returned a certificate other than the last one.
    async fn credential(
        &self,
        within: Option<Duration>,
    ) -> Result<(Option<HeaderValue>, Option<Identity>), ApiError> {
        let mut state = self.state.lock().await;
        if self.rejected.swap(false, Ordering::SeqCst) {
            state.cached = None;
        }
        if let Some((header, expiry)) = &state.cached
            && !expiring(*expiry)
        {
            return Ok((header.clone(), None));
        }
        // Near the deadline the check's budget is the bound; stop a little before it, so that
        // this cause, not the waiter's "no answer", is what the report says.
        let limit = match within {
            Some(w) if w < self.budget => Limit::Deadline(w.saturating_sub(PLUGIN_MARGIN)),
            _ => Limit::Attempt(self.budget),
        };
        let status = run_exec(&self.config, &self.command, limit).await?;
        let unusable = |why: String| ApiError {
            class: Class::Unauthorized,
            code: None,
            message: format!(
                "the exec credential plugin {}: {why}",
                shown_command(&self.command)
            ),
            retry_after: None,
        };
        let header = match status.token.as_deref() {
            Some(token) => Some(
                bearer(token)
                    .map_err(|_| unusable("its token is not a valid header value".into()))?,
            ),
            None => None,
        };
        let expiry = expiry(&status.expiration_timestamp).map_err(unusable)?;
        let mut identity = None;
        if let (Some(cert), Some(key)) = (&status.client_certificate_data, &status.client_key_data)
            && state.cert.as_ref() != Some(cert)
        {
            crate::net::text::add_secret(key);
            identity = Some(
                parse_identity(cert.as_bytes(), key.as_bytes())
                    .map_err(|why| unusable(format!("its client certificate: {why}")))?,
            );
            state.cert = Some(cert.clone());
        }
        state.cached = Some((header.clone(), expiry));
        Ok((header, identity))
    }
}

/// Whether a credential expires within 10 s (or has expired).
fn expiring(expiry: Option<SystemTime>) -> bool {
    expiry.is_some_and(|t| {
        t.duration_since(SystemTime::now())
            .map_or(true, |left| left < Duration::from_secs(10))
    })
}

/// A credential header value: marked sensitive, and registered so that nothing kwait prints can
/// contain it (nor the token or base64 after its scheme).
fn sensitive(value: &str) -> Result<HeaderValue, ConfigError> {
    crate::net::text::add_secret(value);
    if let Some((_, credential)) = value.split_once(' ') {
        crate::net::text::add_secret(credential);
    }
    let mut h = HeaderValue::from_str(value).map_err(|_| {
        ConfigError::Unusable("the user's credentials are not a valid header value".into())
    })?;
    h.set_sensitive(true);
    Ok(h)
}

fn bearer(token: &str) -> Result<HeaderValue, ConfigError> {
    sensitive(&format!("Bearer {}", token.trim()))
}

/// Reads a token file (at most 64 KiB); never includes its content in the error.
fn read_token(path: &Path) -> Result<HeaderValue, ApiError> {
    let fail = |message: String| ApiError {
        class: Class::Unauthorized,
        code: None,
        message,
        retry_after: None,
    };
    let bytes =
        read_capped(path, TOKEN_FILE_LIMIT, "token file").map_err(|e| fail(e.to_string()))?;
    let why = |w: &str| fail(format!("cannot use token file {:?}: {w}", path));
    let text = String::from_utf8(bytes).map_err(|_| why("it is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(why("it is empty"));
    }
    bearer(&text).map_err(|_| why("not a valid header value"))
}

/// The client certificate and key of a kubeconfig user (`*-data` in base64, or files).
fn identity(info: &AuthInfo) -> Result<Option<Identity>, ConfigError> {
    let load = |what: &str, data: Option<&str>, file: &Option<String>| match (data, file) {
        (Some(d), _) => base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|e| ConfigError::Unusable(format!("{what}-data: {e}"))),
        (None, Some(f)) => read_capped(Path::new(f), PEM_FILE_LIMIT, what)
            .map(Some)
            .map_err(|e| ConfigError::Unusable(e.to_string())),
        (None, None) => Ok(None),
    };
    let cert = load(
        "client-certificate",
        info.client_certificate_data.as_deref(),
        &info.client_certificate,
    )?;
    let key = load(
        "client-key",
        info.client_key_data.as_ref().map(|k| k.expose_secret()),
        &info.client_key,
    )?;
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Unusable(
            "the user has a client certificate but no client key".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Unusable(
            "the user has a client key but no client certificate".into(),
        )),
        (Some(c), Some(k)) => parse_identity(&c, &k)
            .map(Some)
            .map_err(|why| ConfigError::Unusable(format!("client certificate: {why}"))),
    }
}

/// PEM certificate chain and PEM private key; errors never quote the key.
fn parse_identity(cert_pem: &[u8], key_pem: &[u8]) -> Result<Identity, String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "the client key is not a PEM private key".to_string())?;
    Ok(Identity { certs, key })
}

/// `ExecCredential`, as client-go's credential plugins speak it.
#[derive(Serialize)]
struct ExecRequest<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'static str,
    spec: ExecSpec<'a>,
}

#[derive(Serialize)]
struct ExecSpec<'a> {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a kube::config::ExecAuthCluster>,
}

#[derive(Deserialize)]
struct ExecResponse {
    status: Option<ExecStatus>,
}

/// What a plugin answers; the token and key are never printed.
#[derive(Deserialize, Default)]
struct ExecStatus {
    #[serde(rename = "expirationTimestamp")]
    expiration_timestamp: Option<String>,
    token: Option<String>,
    #[serde(rename = "clientCertificateData")]
    client_certificate_data: Option<String>,
    #[serde(rename = "clientKeyData")]
    client_key_data: Option<String>,
}

/// The exec plugin's command, as printed: quoted and escaped, cut to 200 characters.
fn shown_command(command: &str) -> String {
    format!("\"{}\"", printable(command, 200))
}

/// Checks, without running it, that the plugin's command exists and is executable (a path, or a
/// name found on `$PATH`); otherwise a configuration error naming it and its install hint.
fn executable_command(exec: &ExecConfig) -> Result<String, ConfigError> {
    let command = exec
        .command
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ConfigError::Unusable("the user's exec plugin has no command".into()))?;
    let usable = |p: &Path| -> Result<(), &'static str> {
        match std::fs::metadata(p) {
            Err(_) => Err("not found"),
            Ok(m) if !m.is_file() => Err("not a file"),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => Err("not executable"),
            Ok(_) => Ok(()),
        }
    };
    let found = if command.contains('/') {
        usable(Path::new(command))
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty());
        let mut found = Err("not found on $PATH");
        for dir in dirs {
            if usable(&dir.join(command)).is_ok() {
                found = Ok(());
                break;
            }
        }
        found
    };
    found.map(|()| command.to_string()).map_err(|why| {
        let hint = exec
            .install_hint
            .as_deref()
            .and_then(|h| h.lines().next())
            .map(|h| format!(" ({})", printable(h.trim(), 200)))
            .unwrap_or_default();
        ConfigError::Unusable(format!(
            "cannot run the exec credential plugin {}: {why}{hint}",
            shown_command(command)
        ))
    })
}

/// Kills a plugin (its whole process group, unless it runs interactively in kwait's) when
/// dropped armed: the run overran its budget, or the request that needed it was abandoned.
struct Kill {
    pid: nix::unistd::Pid,
    group: bool,
    armed: bool,
}

impl Kill {
    fn now(pid: nix::unistd::Pid, group: bool) {
        use nix::sys::signal::{Signal, kill, killpg};
        let _ = if group {
            killpg(pid, Signal::SIGKILL)
        } else {
            kill(pid, Signal::SIGKILL)
        };
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        if self.armed {
            Kill::now(self.pid, self.group);
        }
    }
}

/// What a finished plugin left: its exit status, its stdout (unless over the limit) and the
/// end of its stderr.
struct Output {
    status: std::io::Result<ExitStatus>,
    stdout: Vec<u8>,
    too_much: bool,
    stderr_tail: Vec<u8>,
}

/// How long kwait still reads a plugin's pipes after the plugin exited: output it wrote before
/// exiting is there at once; a pipe kept open longer belongs to something it started outside its
/// process group (`setsid`), whose end kwait does not wait for.
const EXEC_PIPE_GRACE: Duration = Duration::from_secs(1);

/// One of the plugin's pipes, read on a thread of its own into a shared buffer: what was read
/// so far stays readable even when the pipe never ends.
struct Drained {
    buf: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drained {
    /// Starts reading `pipe`; `keep` adds each chunk to the buffer and says whether to go on.
    fn start(
        name: &str,
        pipe: impl Read + Send + 'static,
        keep: impl Fn(&mut Vec<u8>, &[u8]) -> bool + Send + 'static,
    ) -> Option<Drained> {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let shared = buf.clone();
        let mut pipe = pipe;
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 || !keep(&mut lock(&shared), &chunk[..n]) {
                        break;
                    }
                }
                let _ = tx.send(());
            })
            .ok()?;
        Some(Drained { buf, done })
    }

    /// What was read, once the pipe ended or `until` passed, whichever is first.
    fn take(self, until: std::time::Instant) -> Vec<u8> {
        let _ = self
            .done
            .recv_timeout(until.saturating_duration_since(std::time::Instant::now()));
        std::mem::take(&mut *lock(&self.buf))
    }
}

/// Reads the plugin's output (stdout capped: past the limit the group is killed; stderr
/// drained, its last 64 KiB kept) and reaps it. Runs on a blocking thread; bounded in time by
/// the plugin itself (the caller kills its group when the run overruns) plus
/// [`EXEC_PIPE_GRACE`].
fn collect(mut child: Child, pid: nix::unistd::Pid, group: bool) -> Output {
    let stderr = child.stderr.take().and_then(|err| {
        Drained::start("exec-stderr", err, |tail, chunk| {
            tail.extend_from_slice(chunk);
            if tail.len() > 2 * EXEC_STDERR_KEEP {
                tail.drain(..tail.len() - EXEC_STDERR_KEEP);
            }
            true
        })
    });
    let cap = usize::try_from(EXEC_STDOUT_LIMIT).unwrap_or(usize::MAX);
    let stdout = child.stdout.take().and_then(|out| {
        Drained::start("exec-stdout", out, move |buf, chunk| {
            let room = (cap + 1).saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() > cap {
                Kill::now(pid, group);
                return false;
            }
            true
        })
    });
    let status = child.wait();
    let grace = std::time::Instant::now() + EXEC_PIPE_GRACE;
    let mut stdout = stdout.map(|d| d.take(grace)).unwrap_or_default();
    let too_much = stdout.len() > cap;
    if too_much {
        stdout = Vec::new();
    }
    let stderr_tail = stderr.map(|d| d.take(grace)).unwrap_or_default();
    Output {
        status,
        stdout,
        too_much,
        stderr_tail,
    }
}

/// How long one plugin run may take, and what set that bound (for its message).
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// `--attempt-timeout`.
    Attempt(Duration),
    /// What was left of the check's budget before the deadline.
    Deadline(Duration),
}

/// How much earlier than the check's budget a plugin run cut by the deadline is stopped, so that
/// its own cause comes back before the waiter gives up on the check.
const PLUGIN_MARGIN: Duration = Duration::from_millis(150);

/// Runs an exec credential plugin within `limit`. Interactive (stdin and stderr shared, in
/// kwait's process group so that it may read the terminal) only when kwait's stdin is a terminal
/// and the plugin allows it; otherwise in its own process group, its stderr captured and its
/// last line quoted in the error. Its stdout (the credential) is never quoted.
async fn run_exec(exec: &ExecConfig, command: &str, limit: Limit) -> Result<ExecStatus, ApiError> {
    let budget = match limit {
        Limit::Attempt(d) | Limit::Deadline(d) => d,
    };
    let shown = shown_command(command);
    let fail = |class: Class, message: String| ApiError {
        class,
        code: None,
        message,
        retry_after: None,
    };
    let interactive =
        exec.interactive_mode != Some(ExecInteractiveMode::Never) && std::io::stdin().is_terminal();
    let api_version = exec
        .api_version
        .as_deref()
        .unwrap_or("client.authentication.k8s.io/v1");
    let info = ExecRequest {
        api_version,
        kind: "ExecCredential",
        spec: ExecSpec {
            interactive,
            cluster: if exec.provide_cluster_info {
                exec.cluster.as_ref()
            } else {
                None
            },
        },
    };
    let mut cmd = Command::new(command);
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        serde_json::to_string(&info).map_err(|e| fail(Class::Other, e.to_string()))?,
    );
    cmd.stdout(Stdio::piped());
    if interactive {
        cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
    }
    let child = cmd.spawn().map_err(|e| {
        fail(
            Class::Unauthorized,
            format!("cannot run the exec credential plugin {shown}: {e}"),
        )
    })?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let group = !interactive;
    let mut guard = Kill {
        pid,
        group,
        armed: true,
    };
    let work = tokio::task::spawn_blocking(move || collect(child, pid, group));
    let out = match tokio::time::timeout(budget, work).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(fail(Class::Other, e.to_string())),
        Err(_) => {
            return Err(fail(
                Class::Timeout,
                match limit {
                    Limit::Attempt(_) => format!(
                        "the exec credential plugin {shown} did not finish within {} (--attempt-timeout); it was stopped",
                        crate::duration::format(budget)
                    ),
                    Limit::Deadline(_) => format!(
                        "the exec credential plugin {shown} did not finish in the {} left before --timeout; it was stopped",
                        crate::duration::format(budget)
                    ),
                },
            ));
        }
    };
    guard.armed = false;
    if out.too_much {
        return Err(fail(
            Class::Unauthorized,
            format!(
                "the exec credential plugin {shown} printed more than 1 MiB on stdout; it was stopped"
            ),
        ));
    }
    let status = out.status.map_err(|e| {
        fail(
            Class::Other,
            format!("the exec credential plugin {shown}: {e}"),
        )
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr_tail);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", printable(l.trim(), 200)))
        .unwrap_or_default();
    if !status.success() {
        return Err(fail(
            Class::Unauthorized,
            format!("the exec credential plugin {shown} failed ({status}){last}"),
        ));
    }
    let response: ExecResponse = serde_json::from_slice(&out.stdout).map_err(|_| {
        fail(
            Class::Unauthorized,
            format!(
                "the exec credential plugin {shown} did not print an ExecCredential as JSON{last}"
            ),
        )
    })?;
    let status = response.status.unwrap_or_default();
    if status.token.is_none()
        && (status.client_certificate_data.is_none() || status.client_key_data.is_none())
    {
        return Err(fail(
            Class::Unauthorized,
            format!(
                "the exec credential plugin {shown} returned neither a token nor a client certificate and key"
            ),
        ));
    }
    Ok(status)
}

fn expiry(ts: &Option<String>) -> Result<Option<SystemTime>, String> {
    match ts {
        None => Ok(None),
        Some(s) => crate::duration::parse_rfc3339(s).map(Some).ok_or_else(|| {
            format!(
                "its expirationTimestamp \"{}\" is not an RFC 3339 time",
                printable(s, 60)
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer_headers_are_sensitive() {
        let info = AuthInfo {
            username: Some("u".into()),
            password: Some("p".to_string().into()),
            ..Default::default()
        };
        let (auth, id) = Auth::new(&info, Duration::from_secs(1)).unwrap();
        assert!(id.is_none());
        let Credentials::Fixed(h) = &auth.credentials else {
            panic!("basic is a fixed header")
        };
        assert_eq!(h.to_str().unwrap(), "Basic dTpw");
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("dTpw"));
    }

    #[test]
    fn a_client_key_without_a_certificate_is_refused() {
        let info = AuthInfo {
            client_key_data: Some("a2V5".to_string().into()),
            ..Default::default()
        };
        let Err(e) = Auth::new(&info, Duration::from_secs(1)) else {
            panic!("must fail")
        };
        assert_eq!(
            e.to_string(),
            "kubeconfig: the user has a client key but no client certificate"
        );
    }

    /// An exec plugin in a scratch directory: `body` after a shebang.
    fn plugin(name: &str, body: &str) -> (PathBuf, ExecConfig) {
        let dir = std::env::temp_dir().join(format!("kwait-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("plugin.sh");
        std::fs::write(&script, format!("#!/bin/sh\nd={}\n{body}", dir.display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1".into()),
            command: Some(script.display().to_string()),
            args: None,
            env: None,
            drop_env: None,
            interactive_mode: Some(ExecInteractiveMode::Never),
            provide_cluster_info: false,
            cluster: None,
            install_hint: None,
            other: Default::default(),
        };
        (dir, config)
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_exec_plugin_run() {
        // Each run counts itself and notes an overlap with another run.
        let (dir, exec) = plugin(
            "single-flight",
            r#"mkdir "$d/running" 2>/dev/null || echo overlap >> "$d/overlaps"
echo run >> "$d/runs"
sleep 0.3
rmdir "$d/running"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"single-flight-token"}}'
"#,
        );
        let info = AuthInfo {
            exec: Some(exec),
            ..Default::default()
        };
        let (auth, _) = Auth::new(&info, Duration::from_secs(20)).unwrap();
        let (a, b, c) = tokio::join!(auth.headers(), auth.headers(), auth.headers());
        for applied in [a, b, c] {
            let applied = applied.unwrap();
            assert_eq!(
                applied.headers[0].1.to_str().unwrap(),
                "Bearer single-flight-token"
            );
        }
        let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
        assert_eq!(
            runs.lines().count(),
            1,
            "one run serves every waiting request"
        );
        assert!(!dir.join("overlaps").exists());
        // A 401 makes the next request run it again.
        auth.rejected();
        auth.headers().await.unwrap();
        let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
        assert_eq!(runs.lines().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_abandoned_exec_plugin_run_is_killed_with_its_process_group() {
        let (dir, exec) = plugin(
            "abandoned",
            "sleep 60 &\necho $! > \"$d/child\"\necho $$ > \"$d/pid\"\nsleep 60\n",
        );
        let info = AuthInfo {
            exec: Some(exec),
            ..Default::default()
        };
        let (auth, _) = Auth::new(&info, Duration::from_secs(60)).unwrap();
        let started = std::time::Instant::now();
        let mut run = Box::pin(auth.headers());
        let started_up = async {
            while !dir.join("pid").exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = &mut run => panic!("the plugin hangs"),
            up = tokio::time::timeout(Duration::from_secs(30), started_up) => up.unwrap(),
        }
        // The request is abandoned (its check timed out).
        drop(run);
        for file in ["pid", "child"] {
            let pid = std::fs::read_to_string(dir.join(file)).unwrap();
            let stat = format!("/proc/{}/stat", pid.trim());
            // Gone, or a zombie waiting for its (killed) parent's reaper.
            let mut alive = true;
            for _ in 0..100 {
                alive = std::fs::read_to_string(&stat).is_ok_and(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                });
                if !alive {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(!alive, "the plugin's {file} {} still runs", pid.trim());
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_non_executable_plugin_is_a_configuration_error() {
        let (dir, mut exec) = plugin("not-executable", "exit 0\n");
        let script = dir.join("plugin.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let info = AuthInfo {
            exec: Some(exec.clone()),
            ..Default::default()
        };
        let Err(e) = Auth::new(&info, Duration::from_secs(1)) else {
            panic!("must fail")
        };
        assert_eq!(
            e.to_string(),
            format!(
                "kubeconfig: cannot run the exec credential plugin {:?}: not executable",
                script.display().to_string()
            )
        );
        exec.command = Some("kwait-no-such-plugin-anywhere".into());
        let info = AuthInfo {
            exec: Some(exec),
            ..Default::default()
        };
        let Err(e) = Auth::new(&info, Duration::from_secs(1)) else {
            panic!("must fail")
        };
        assert!(e.to_string().ends_with(": not found on $PATH"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn legacy_auth_providers_say_what_to_use_instead() {
        let info = AuthInfo {
            auth_provider: Some(kube::config::AuthProviderConfig {
                name: "gcp".into(),
                config: Default::default(),
                other: Default::default(),
            }),
            ..Default::default()
        };
        let Err(e) = Auth::new(&info, Duration::from_secs(1)) else {
            panic!("must fail")
        };
        assert!(
            e.to_string()
                .contains("auth-provider \"gcp\" is not supported")
        );
    }
}
