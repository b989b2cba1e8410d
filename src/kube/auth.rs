//! Who kwait is to the API server: the kubeconfig user (token, token file, basic, client
//! certificate, exec credential plugin, OIDC `id-token`, impersonation) or the in-cluster
//! service account (its token file, re-read on every request so a rotated token is used at once).
//!
//! kube's `config` feature parses the kubeconfig; this module turns its `AuthInfo` into request
//! headers and a client identity, the part kube-rs keeps behind its own HTTP stack.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{ApiError, ConfigError, other};
use crate::net::text::lock;
use crate::probe::Class;

/// A client certificate chain and its key, for mutual TLS.
pub(super) struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Where the `Authorization` header comes from.
enum Credentials {
    None,
    /// A fixed header (`token`, `username`/`password`, an OIDC `id-token`, an exec token
    /// without expiry).
    Fixed(HeaderValue),
    /// `tokenFile` (and the in-cluster token): read on every request.
    File(PathBuf),
    /// An exec plugin's token, re-run when it expires or the server refuses it.
    Exec {
        config: Box<ExecConfig>,
        cached: Mutex<Option<(HeaderValue, Option<SystemTime>)>>,
    },
}

/// Request authentication for one client.
pub(super) struct Auth {
    credentials: Credentials,
    impersonation: Vec<(HeaderName, HeaderValue)>,
}

impl Auth {
    /// Builds the credentials for `info`. An exec plugin is run once here, so that a missing
    /// or failing plugin is a configuration error (exit 2) and client certificates it returns
    /// become the identity.
    pub(super) fn new(info: &AuthInfo) -> Result<(Auth, Option<Identity>), ConfigError> {
        let mut identity = identity(info)?;
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
            let status = run_exec(exec).map_err(ConfigError::Unusable)?;
            if let (Some(cert), Some(key)) =
                (&status.client_certificate_data, &status.client_key_data)
            {
                identity = Some(parse_identity(cert.as_bytes(), key.as_bytes()).map_err(
                    |why| ConfigError::Unusable(format!("exec plugin's client certificate: {why}")),
                )?);
            }
            match status.token {
                Some(token) => {
                    let header = bearer(&token)?;
                    let expiry = expiry(&status.expiration_timestamp)?;
                    Credentials::Exec {
                        config: Box::new(exec.clone()),
                        cached: Mutex::new(Some((header, expiry))),
                    }
                }
                None => Credentials::None,
            }
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

    /// Adds the `Authorization` and impersonation headers to a request.
    pub(super) async fn apply(&self, mut rb: RequestBuilder) -> Result<RequestBuilder, ApiError> {
        let header = match &self.credentials {
            Credentials::None => None,
            Credentials::Fixed(h) => Some(h.clone()),
            Credentials::File(path) => Some(read_token(path)?),
            Credentials::Exec { config, cached } => {
                let fresh = lock(cached).as_ref().and_then(|(h, expiry)| {
                    let expiring = expiry.is_some_and(|t| {
                        t.duration_since(SystemTime::now())
                            .map_or(true, |left| left < Duration::from_secs(10))
                    });
                    (!expiring).then(|| h.clone())
                });
                match fresh {
                    Some(h) => Some(h),
                    None => {
                        let config = config.as_ref().clone();
                        let status = tokio::task::spawn_blocking(move || run_exec(&config))
                            .await
                            .map_err(|e| other(e.to_string()))?
                            .map_err(|message| ApiError {
                                class: Class::Unauthorized,
                                code: None,
                                message,
                                retry_after: None,
                            })?;
                        let token = status.token.as_deref().ok_or_else(|| {
                            other("the exec plugin returned no token".to_string())
                        })?;
                        let h = bearer(token).map_err(|e| other(e.to_string()))?;
                        let expiry = expiry(&status.expiration_timestamp)
                            .map_err(|e| other(e.to_string()))?;
                        *lock(cached) = Some((h.clone(), expiry));
                        Some(h)
                    }
                }
            }
        };
        if let Some(h) = header {
            rb = rb.header(AUTHORIZATION, h);
        }
        for (name, value) in &self.impersonation {
            rb = rb.header(name.clone(), value.clone());
        }
        Ok(rb)
    }

    /// The server answered 401: an exec token is fetched again before the next request.
    pub(super) fn rejected(&self) {
        if let Credentials::Exec { cached, .. } = &self.credentials {
            *lock(cached) = None;
        }
    }
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

/// Reads a token file; never includes its content in the error.
fn read_token(path: &PathBuf) -> Result<HeaderValue, ApiError> {
    let fail = |why: String| ApiError {
        class: Class::Unauthorized,
        code: None,
        message: format!("cannot use token file {}: {why}", path.display()),
        retry_after: None,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    if text.trim().is_empty() {
        return Err(fail("it is empty".into()));
    }
    bearer(&text).map_err(|_| fail("not a valid header value".into()))
}

/// The client certificate and key of a kubeconfig user (`*-data` in base64, or files).
fn identity(info: &AuthInfo) -> Result<Option<Identity>, ConfigError> {
    let load = |what: &str, data: Option<&str>, file: &Option<String>| match (data, file) {
        (Some(d), _) => base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|e| ConfigError::Unusable(format!("{what}-data: {e}"))),
        (None, Some(f)) => std::fs::read(f)
            .map(Some)
            .map_err(|e| ConfigError::Unusable(format!("{what} {f:?}: {e}"))),
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

/// Runs an exec credential plugin. Interactive (stdin and stderr shared) only when kwait's
/// stdin is a terminal and the plugin allows it; otherwise its stderr is captured and its last
/// line quoted in the error. Its stdout (the credential) is never quoted.
fn run_exec(exec: &ExecConfig) -> Result<ExecStatus, String> {
    let command = exec
        .command
        .as_deref()
        .ok_or("the user's exec plugin has no command")?;
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
        serde_json::to_string(&info).map_err(|e| e.to_string())?,
    );
    if interactive {
        cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|e| {
        let hint = exec
            .install_hint
            .as_deref()
            .map(|h| format!(" ({})", h.lines().next().unwrap_or("").trim()))
            .unwrap_or_default();
        format!("cannot run the exec credential plugin {command:?}: {e}{hint}")
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "the exec credential plugin {command:?} failed ({}){}",
            out.status,
            last.map(|l| format!(": {}", crate::net::text::printable(l.trim(), 200)))
                .unwrap_or_default()
        ));
    }
    let response: ExecResponse = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!("the exec credential plugin {command:?} did not print an ExecCredential as JSON")
    })?;
    let status = response.status.unwrap_or_default();
    if status.token.is_none() && status.client_certificate_data.is_none() {
        return Err(format!(
            "the exec credential plugin {command:?} returned neither a token nor a client certificate"
        ));
    }
    Ok(status)
}

fn expiry(ts: &Option<String>) -> Result<Option<SystemTime>, ConfigError> {
    match ts {
        None => Ok(None),
        Some(s) => crate::duration::parse_rfc3339(s).map(Some).ok_or_else(|| {
            ConfigError::Unusable(format!(
                "the exec plugin's expirationTimestamp {s:?} is not an RFC 3339 time"
            ))
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
        let (auth, id) = Auth::new(&info).unwrap();
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
        let Err(e) = Auth::new(&info) else {
            panic!("must fail")
        };
        assert_eq!(
            e.to_string(),
            "kubeconfig: the user has a client key but no client certificate"
        );
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
        let Err(e) = Auth::new(&info) else {
            panic!("must fail")
        };
        assert!(
            e.to_string()
                .contains("auth-provider \"gcp\" is not supported")
        );
    }
}
