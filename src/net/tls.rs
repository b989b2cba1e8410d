//! TLS trust shared by the API client and the network probes: the trust roots (the system
//! bundle, certificates from a PEM file or from DER, as a kubeconfig gives them), kwait's own
//! [`Verifier`] (any certificate for `--insecure-skip-tls-verify` / `insecure-skip-tls-verify`,
//! or one checked against a name other than the URL's host), the one client configuration
//! `wait-http`, `wait-postgres` and `wait-redis` build from their `--ca-cert` /
//! `--insecure-skip-tls-verify` options ([`client_config`]), and the one set of words for a
//! failed handshake they all use ([`handshake_failed`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::text::{causes, chain, printable};
use crate::check::{Class, Observation};

/// How a connection is secured, and how the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    /// Plain TCP (no `--tls`). Never for `wait-http`, whose URL's scheme decides.
    Off,
    /// TLS, the certificate verified against `--ca-cert` (or the system bundle when `None`).
    Verify(Option<PathBuf>),
    /// TLS, any certificate accepted (`--insecure-skip-tls-verify`; kwait warns).
    Insecure,
}

impl TlsChoice {
    /// `--insecure-skip-tls-verify` was given.
    pub fn is_insecure(&self) -> bool {
        *self == TlsChoice::Insecure
    }

    /// Whether TLS is used at all (always, for an https:// URL).
    pub fn is_on(&self) -> bool {
        *self != TlsChoice::Off
    }

    /// What a target's description says of it: nothing, `TLS`, or that the certificate is
    /// not verified (`wait-postgres` and `wait-redis` say it alike).
    pub fn note(&self) -> Option<&'static str> {
        match self {
            TlsChoice::Off => None,
            TlsChoice::Verify(_) => Some("TLS"),
            TlsChoice::Insecure => Some("TLS, certificate not verified"),
        }
    }

    /// `--ca-cert`, where given.
    pub fn ca_cert(&self) -> Option<&Path> {
        match self {
            TlsChoice::Verify(Some(path)) => Some(path),
            _ => None,
        }
    }
}

/// Where a client's trust roots came from, to word a failed handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// `--ca-cert`.
    CaCert,
    /// The system bundle.
    System,
    /// No system bundle was found and no `--ca-cert` given.
    None,
    /// `--insecure-skip-tls-verify`.
    Insecure,
}

/// A TLS client that could not be set up (bad `--ca-cert`, ...): exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `--ca-cert` holds no usable certificate.
    #[error("cannot use --ca-cert {}: {why}", path.display())]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// `--ca-cert` could not be read, or is over its cap.
    #[error(transparent)]
    Read(#[from] super::file::FileError),
    /// The system CA bundle could not be read (`SSL_CERT_FILE=/dev/zero`).
    #[error("cannot use the system CA bundle: {0}")]
    SystemRoots(String),
    /// The TLS client (or the client around it) could not be built.
    #[error("cannot set up the {0}")]
    Client(String),
}

/// The ring provider every TLS client of kwait uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting what `trust` says (TLS 1.2 and 1.3, no client certificate),
/// and where its roots came from. `what` names the client in a setup error (`HTTP client`).
/// [`TlsChoice::Off`] asks for no client; given, it gets the default: the system bundle.
pub fn client_config(
    trust: &TlsChoice,
    what: &str,
) -> Result<(rustls::ClientConfig, Roots), SetupError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Client(format!("{what}: {e}")))?;
    let (builder, roots) = match trust {
        TlsChoice::Insecure => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::insecure(&provider))),
            Roots::Insecure,
        ),
        TlsChoice::Verify(Some(path)) => {
            let pem = super::file::read_capped(path, super::file::FILE_CAP, "--ca-cert")?;
            let store = pem_roots(&pem).map_err(|why| SetupError::CaCert {
                path: path.to_path_buf(),
                why,
            })?;
            (builder.with_root_certificates(store), Roots::CaCert)
        }
        TlsChoice::Verify(None) | TlsChoice::Off => {
            let store = system_roots().map_err(SetupError::SystemRoots)?;
            let roots = if store.is_empty() {
                Roots::None
            } else {
                Roots::System
            };
            (builder.with_root_certificates(store), roots)
        }
    };
    Ok((builder.with_no_client_auth(), roots))
}

/// The most kwait reads of one CA bundle file (a distribution's bundle is about 200 KiB).
pub(crate) const BUNDLE_CAP: u64 = 4 << 20;

/// The system CA bundle (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `/etc/ssl/certs`, ...); empty when
/// there is none. Loaded once per run (the description and the probe both ask) and kept.
///
/// `SSL_CERT_FILE` is the operator's to set (`/dev/zero` by mistake): it is read capped at
/// [`BUNDLE_CAP`], and a larger file is an error naming it and the limit. The files of
/// `SSL_CERT_DIR` are checked against the same cap before `rustls-native-certs` reads them
/// whole; the distribution's default locations are trusted as they are.
pub(crate) fn system_roots() -> Result<RootCertStore, String> {
    static ROOTS: std::sync::OnceLock<Result<RootCertStore, String>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(load_system_roots).clone()
}

fn load_system_roots() -> Result<RootCertStore, String> {
    let file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut store = RootCertStore::empty();
    if file.is_none() && dirs.is_empty() {
        store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        return Ok(store);
    }
    // As rustls-native-certs: when either variable is set, only they are used.
    if let Some(file) = &file {
        // A file that cannot be read is no bundle (as before: "no trusted CA certificates"
        // says so); one over the cap is the operator's mistake, named with its limit.
        match crate::net::file::read_capped(file, BUNDLE_CAP, "SSL_CERT_FILE") {
            Ok(pem) => {
                store.add_parsable_certificates(
                    CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok),
                );
            }
            Err(e @ crate::net::file::FileError::TooLarge { .. }) => return Err(e.to_string()),
            Err(crate::net::file::FileError::Io { .. }) => {}
        }
    }
    for dir in &dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                // Following links, as the loader does (a link to /dev/zero is a device); an
                // entry it cannot stat it skips too.
                if let Ok(meta) = std::fs::metadata(&path)
                    && !meta.is_dir()
                    && (!meta.is_file() || meta.len() > BUNDLE_CAP)
                {
                    return Err(format!(
                        "SSL_CERT_DIR holds {path:?}, which is not a regular file of at most {} MiB",
                        BUNDLE_CAP >> 20
                    ));
                }
            }
        }
        store.add_parsable_certificates(
            rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs,
        );
    }
    Ok(store)
}

/// The certificates of a PEM file as trust roots; the error says why the file is unusable.
pub(crate) fn pem_roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM file of certificates ({e})"))?;
        store
            .add(cert)
            .map_err(|e| format!("a certificate could not be used as a CA ({e})"))?;
    }
    if store.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into());
    }
    Ok(store)
}

/// A certificate verifier of kwait's own: which server certificates it accepts ([`Accept`]),
/// with the handshake signatures checked as rustls's own verifier checks them (with the
/// provider's algorithms), so the session is bound to the certificate presented either way.
#[derive(Debug)]
pub(crate) struct Verifier {
    accept: Accept,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The certificates a [`Verifier`] accepts.
#[derive(Debug)]
enum Accept {
    /// Any (`--insecure-skip-tls-verify`, a kubeconfig's `insecure-skip-tls-verify`).
    Any,
    /// Those `inner` accepts for `name` instead of the URL's host: the API client's
    /// `tls-server-name` where it cannot be sent as SNI (through a proxy).
    Named {
        inner: Arc<WebPkiServerVerifier>,
        name: ServerName<'static>,
    },
}

impl Verifier {
    /// Accepts any certificate; `provider` checks the handshake signatures.
    pub(crate) fn insecure(provider: &CryptoProvider) -> Self {
        Verifier {
            accept: Accept::Any,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// `inner`'s checks, with the certificate checked against `name`; `provider` (the one
    /// `inner` was built with) checks the handshake signatures.
    pub(crate) fn named(
        inner: Arc<WebPkiServerVerifier>,
        name: ServerName<'static>,
        provider: &CryptoProvider,
    ) -> Self {
        Verifier {
            accept: Accept::Named { inner, name },
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.accept {
            Accept::Any => Ok(ServerCertVerified::assertion()),
            Accept::Named { inner, name } => {
                inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a probe adds to [`handshake_failed`]'s words: its protocol's side of a failed
/// handshake. Everything else is worded once, the same for every probe.
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    /// The fix when the server does not answer with TLS at all (a plain port).
    pub not_tls: &'static str,
    /// Where the server's TLS settings are, when known (PostgreSQL's `ssl` settings, ...): added
    /// to the fix of a handshake the server refused or that failed for no certificate reason.
    pub settings: Option<&'static str>,
}

/// A failed TLS handshake with `host`, classified by the [`rustls::Error`] in `err`'s source
/// chain (never by its text): the state line, the cause and the fix. `roots` is where the
/// client's trust came from ([`client_config`]).
pub fn handshake_failed(
    err: &(dyn std::error::Error + 'static),
    roots: Roots,
    host: &str,
    hints: Hints,
) -> Observation {
    let host = printable(host, 100);
    let Some(rustls_error) = causes(err)
        .into_iter()
        .find_map(|c| c.downcast_ref::<rustls::Error>())
    else {
        // The connection failed under the handshake (reset, closed).
        return Observation::new(Class::Tls, "TLS: handshake failed")
            .cause(format!(
                "TLS with {host} failed: {}",
                printable(&chain(err), 300)
            ))
            .fix(settings_fix("check the server's TLS settings", hints));
    };
    // The texts carry server data (webpki lists the certificate's names, decoded lossily):
    // escaped and bounded like any other server text.
    let e = printable(&rustls_error.to_string(), 300);
    let (state, cause, fix): (&str, String, String) = match rustls_error {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer if roots == Roots::None => (
                "TLS: no trusted CA certificates",
                "there is no system CA bundle in this image and no --ca-cert was given, so no server certificate can be trusted".into(),
                "pass the CA with --ca-cert, or mount a CA bundle and point SSL_CERT_FILE at it".into(),
            ),
            CertificateError::UnknownIssuer => (
                "TLS: certificate signed by an unknown authority",
                match roots {
                    Roots::CaCert => "the server's certificate is not signed by a CA in --ca-cert".into(),
                    _ => "the server's certificate is not signed by a CA in the system bundle".into(),
                },
                "pass the CA that signed it with --ca-cert (for cert-manager: the ca.crt of the Certificate's Secret)".into(),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                "TLS: certificate name mismatch",
                format!("the server's certificate is not valid for {host} ({e})"),
                format!("use a host name the certificate was issued for, or add {host} to its subject alternative names"),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "TLS: certificate expired",
                format!("the server's certificate has expired ({e})"),
                "renew the certificate (cert-manager: cmctl renew NAME), or check this machine's clock".into(),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "TLS: certificate not yet valid",
                format!("the server's certificate is not valid yet ({e})"),
                "check the clocks of this machine and of the CA".into(),
            ),
            CertificateError::Other(o)
                if matches!(
                    o.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                if roots == Roots::CaCert {
                    (
                        "TLS: self-signed CA certificate",
                        "the server presents a CA certificate (basicConstraints CA:TRUE) as its own; it is refused as a server certificate even when it is in --ca-cert".into(),
                        "issue the server a certificate signed by that CA (cert-manager: a CA Issuer), and pass the CA with --ca-cert".into(),
                    )
                } else {
                    (
                        "TLS: self-signed certificate",
                        format!("the server's certificate for {host} is self-signed (a CA certificate used as the server's own)"),
                        "self-signed certificate; pass its CA with --ca-cert (cert-manager: the ca.crt of the Certificate's Secret)".into(),
                    )
                }
            }
            _ => (
                "TLS: invalid certificate",
                format!("the server's certificate was refused: {e}"),
                "check the server's certificate chain: openssl s_client -connect HOST:PORT -showcerts".into(),
            ),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            "TLS: handshake failed",
            format!("the server did not answer with TLS ({e})"),
            hints.not_tls.into(),
        ),
        rustls::Error::AlertReceived(a) => (
            "TLS: handshake refused by the server",
            format!("the server ended the TLS handshake with the alert {a:?}"),
            settings_fix(
                "check the TLS settings the server requires (client certificate, TLS version, SNI)",
                hints,
            ),
        ),
        _ => (
            "TLS: handshake failed",
            format!("TLS with {host} failed: {e}"),
            settings_fix("check the server's TLS settings", hints),
        ),
    };
    Observation::new(Class::Tls, state).cause(cause).fix(fix)
}

/// A TLS handshake that did not finish within `within` (the attempt's time), after `peer`
/// (`HOST:PORT`, a URL) accepted the connection: the same words in every probe.
pub fn handshake_timed_out(peer: &str, within: std::time::Duration, hints: Hints) -> Observation {
    Observation::new(Class::Timeout, "attempt timed out: TLS handshake did not finish")
        .cause(format!(
            "{peer} accepted the connection, but the TLS handshake did not finish within {}",
            crate::duration::format(within)
        ))
        .fix("check that the port speaks TLS and that the server is not overloaded; a plain port that waits for a request never answers a TLS hello")
        .fix(hints.not_tls)
}

/// A TLS client for one `HOST:PORT` target that speaks TLS over a TCP stream it opened itself
/// (`wait-redis`, `wait-nats`, `wait-rabbitmq`): the connector built from the target's trust
/// options, the name the certificate must carry, and the words for a handshake that fails or
/// does not finish (the same as every probe's).
pub struct StreamTls {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    host: String,
    roots: Roots,
    hints: Hints,
}

impl std::fmt::Debug for StreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTls")
            .field("host", &self.host)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl StreamTls {
    /// [`StreamTls::new`] when `choice` asks for TLS, else `None` (plain TCP).
    pub fn when_on(
        choice: &TlsChoice,
        host: &str,
        what: &str,
        hints: Hints,
    ) -> Result<Option<StreamTls>, SetupError> {
        if !choice.is_on() {
            return Ok(None);
        }
        StreamTls::new(choice, host, what, hints).map(Some)
    }

    /// The client for `host` trusting what `choice` says; `what` names it in a setup error
    /// (`wait-redis`), `hints` are the probe's side of a failed handshake.
    pub fn new(
        choice: &TlsChoice,
        host: &str,
        what: &str,
        hints: Hints,
    ) -> Result<StreamTls, SetupError> {
        let (config, roots) = client_config(choice, &format!("TLS client for {what}"))?;
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            SetupError::Client(format!(
                "TLS client for {what}: {host:?} is not a name a certificate can be checked against"
            ))
        })?;
        Ok(StreamTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
            host: host.to_string(),
            roots,
            hints,
        })
    }

    /// The handshake over `stream` by `deadline`; `peer` (`HOST:PORT (ADDR)`) and
    /// `attempt_timeout` word a handshake that did not finish.
    pub async fn connect<S>(
        &self,
        stream: S,
        deadline: tokio::time::Instant,
        peer: &str,
        attempt_timeout: std::time::Duration,
    ) -> Result<tokio_rustls::client::TlsStream<S>, Observation>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let handshake = self.connector.connect(self.name.clone(), stream);
        match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(handshake_failed(&e, self.roots, &self.host, self.hints)),
            Err(_) => Err(handshake_timed_out(peer, attempt_timeout, self.hints)),
        }
    }
}

/// `fix`, naming the server's TLS settings where the probe knows them.
fn settings_fix(fix: &str, hints: Hints) -> String {
    match hints.settings {
        Some(settings) => format!("{fix}: {settings}"),
        None => fix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HINTS: Hints = Hints {
        not_tls: "NOT-TLS HINT",
        settings: Some("SETTINGS"),
    };

    /// `err` as a probe meets it: inside the `io::Error` tokio-rustls returns.
    fn words(err: rustls::Error, roots: Roots) -> (String, String, String) {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        let o = handshake_failed(&io, roots, "db.example", HINTS);
        assert_eq!(o.class, Class::Tls);
        (
            o.state.clone(),
            o.cause.clone().unwrap_or_default(),
            o.fix.join(" | "),
        )
    }

    fn cert(c: CertificateError) -> rustls::Error {
        rustls::Error::InvalidCertificate(c)
    }

    #[test]
    fn each_certificate_error_has_its_own_words() {
        let state = |e, roots| words(e, roots).0;
        let unknown = || cert(CertificateError::UnknownIssuer);
        assert_eq!(
            state(unknown(), Roots::None),
            "TLS: no trusted CA certificates"
        );
        let (s, cause, fix) = words(unknown(), Roots::CaCert);
        assert_eq!(s, "TLS: certificate signed by an unknown authority");
        assert!(cause.contains("not signed by a CA in --ca-cert"), "{cause}");
        assert!(fix.contains("--ca-cert"), "{fix}");
        let (_, cause, _) = words(unknown(), Roots::System);
        assert!(cause.contains("in the system bundle"), "{cause}");
        let (s, cause, fix) = words(cert(CertificateError::NotValidForName), Roots::System);
        assert_eq!(s, "TLS: certificate name mismatch");
        assert!(cause.contains("not valid for db.example"), "{cause}");
        assert!(fix.contains("add db.example to its subject"), "{fix}");
        assert_eq!(
            state(cert(CertificateError::Expired), Roots::System),
            "TLS: certificate expired"
        );
        assert_eq!(
            state(cert(CertificateError::NotValidYet), Roots::System),
            "TLS: certificate not yet valid"
        );
        let ca_as_leaf = || {
            cert(CertificateError::Other(rustls::OtherError(Arc::new(
                webpki::Error::CaUsedAsEndEntity,
            ))))
        };
        assert_eq!(
            state(ca_as_leaf(), Roots::System),
            "TLS: self-signed certificate"
        );
        assert_eq!(
            state(ca_as_leaf(), Roots::CaCert),
            "TLS: self-signed CA certificate"
        );
        let (s, _, fix) = words(cert(CertificateError::BadSignature), Roots::System);
        assert_eq!(s, "TLS: invalid certificate");
        // A certificate problem is not the server's TLS settings: no probe hint.
        assert!(!fix.contains("SETTINGS"), "{fix}");
    }

    #[test]
    fn a_handshake_failure_adds_only_the_probes_hint() {
        let (s, cause, fix) = words(
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            Roots::System,
        );
        assert_eq!(s, "TLS: handshake failed");
        assert!(
            cause.starts_with("the server did not answer with TLS"),
            "{cause}"
        );
        assert_eq!(fix, "NOT-TLS HINT");
        let (s, cause, fix) = words(
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            Roots::System,
        );
        assert_eq!(s, "TLS: handshake refused by the server");
        assert!(cause.contains("HandshakeFailure"), "{cause}");
        assert!(fix.ends_with(": SETTINGS"), "{fix}");
        let (s, _, fix) = words(
            rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
            Roots::System,
        );
        assert_eq!(s, "TLS: handshake failed");
        assert_eq!(fix, "check the server's TLS settings: SETTINGS");
        let no_hint = Hints {
            settings: None,
            ..HINTS
        };
        let o = handshake_failed(
            &rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
            Roots::System,
            "h",
            no_hint,
        );
        assert_eq!(o.fix, vec!["check the server's TLS settings".to_string()]);
    }

    #[test]
    fn a_stalled_handshake_is_an_attempt_timeout_with_the_probes_hint() {
        let o = handshake_timed_out("db:5432", std::time::Duration::from_secs(5), HINTS);
        assert_eq!(o.class, Class::Timeout);
        assert_eq!(o.state, "attempt timed out: TLS handshake did not finish");
        assert!(o.cause.unwrap_or_default().starts_with("db:5432 accepted"));
        assert_eq!(o.fix.last().map(String::as_str), Some("NOT-TLS HINT"));
    }

    #[test]
    fn a_connection_lost_under_the_handshake_is_a_failed_handshake() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let o = handshake_failed(&io, Roots::System, "h", HINTS);
        assert_eq!(o.state, "TLS: handshake failed");
        assert!(
            o.cause
                .as_deref()
                .unwrap_or_default()
                .contains("reset by peer")
        );
    }

    /// Moved from wait-http's tests: webpki's name-mismatch text lists the certificate's names,
    /// decoded lossily, and any probe's error text is the server's.
    #[test]
    fn tls_error_texts_with_server_names_are_escaped() {
        let (_, cause, _) = words(
            rustls::Error::General("evil\u{1b}[2Jname\u{202e}\nkwait: ready".into()),
            Roots::System,
        );
        for c in ['\u{1b}', '\u{202e}', '\n'] {
            assert!(!cause.contains(c), "{cause:?}");
        }
        assert!(cause.contains("\\u{1b}"), "{cause:?}");
    }
}
