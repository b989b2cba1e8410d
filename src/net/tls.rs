//! TLS trust shared by the API client and the network probes: the trust roots (the system
//! bundle, certificates from a PEM file or from DER, as a kubeconfig gives them), the two custom
//! verifiers, [`NoVerify`] (`--insecure-skip-tls-verify`, `insecure-skip-tls-verify`) and
//! [`NamedVerifier`] (a certificate checked against a name other than the URL's host), and the
//! one client configuration `wait-http`, `wait-postgres` and `wait-redis` build from their
//! `--ca-cert` / `--insecure-skip-tls-verify` options ([`client_config`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What a client trusts, from its options.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// `--insecure-skip-tls-verify`: any certificate.
    Insecure,
    /// `--ca-cert FILE`.
    CaFile(&'a Path),
    /// The system bundle.
    System,
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
pub fn client_config(
    trust: Trust<'_>,
    what: &str,
) -> Result<(rustls::ClientConfig, Roots), SetupError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Client(format!("{what}: {e}")))?;
    let (builder, roots) = match trust {
        Trust::Insecure => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider))),
            Roots::Insecure,
        ),
        Trust::CaFile(path) => {
            let pem = super::file::read_capped(path, crate::plan::FILE_CAP, "--ca-cert")?;
            let store = pem_roots(&pem).map_err(|why| SetupError::CaCert {
                path: path.to_path_buf(),
                why,
            })?;
            (builder.with_root_certificates(store), Roots::CaCert)
        }
        Trust::System => {
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

/// `--insecure-skip-tls-verify`: any certificate is accepted; handshake signatures are still
/// checked, so the session is at least bound to the certificate presented.
#[derive(Debug)]
pub(crate) struct NoVerify(pub(crate) Arc<CryptoProvider>);

impl NoVerify {
    /// The provider's signature algorithms, with which handshake signatures are still checked.
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

/// Checks the server's certificate against a fixed name instead of the URL's host: the API
/// client's `tls-server-name` where it cannot be sent as SNI (through a proxy).
#[derive(Debug)]
pub(crate) struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl NamedVerifier {
    /// `inner`'s checks, with the certificate checked against `name`.
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>, name: ServerName<'static>) -> Self {
        NamedVerifier { inner, name }
    }
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
