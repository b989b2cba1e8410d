//! The TLS options, validated once for every target that has them: `--tls`, `--ca-cert` and
//! `--insecure-skip-tls-verify` of `wait-postgres` and `wait-redis`, and the last two of
//! `wait-http` (where the URL's scheme decides whether TLS is used).

use super::PlanError;
use crate::cli::{TlsArgs, TrustArgs};
pub use crate::net::tls::TlsChoice;

/// `--ca-cert` and `--insecure-skip-tls-verify` (`wait-http`): never [`TlsChoice::Off`].
pub(super) fn trust_choice(args: TrustArgs) -> Result<TlsChoice, PlanError> {
    match (args.ca_cert, args.insecure_skip_tls_verify) {
        (Some(_), true) => Err(PlanError::Conflict(
            "--ca-cert and --insecure-skip-tls-verify cannot be used together".into(),
        )),
        (ca, false) => Ok(TlsChoice::Verify(ca)),
        (None, true) => Ok(TlsChoice::Insecure),
    }
}

/// `--tls` with its trust options (`wait-postgres`, `wait-redis`): each trust option needs
/// `--tls`, and the two exclude each other.
pub(super) fn tls_choice(args: TlsArgs) -> Result<TlsChoice, PlanError> {
    if !args.tls {
        let needs = |arg: &str| Err(PlanError::Conflict(format!("{arg} needs --tls")));
        match (&args.trust.ca_cert, args.trust.insecure_skip_tls_verify) {
            (None, false) => return Ok(TlsChoice::Off),
            (Some(_), false) => return needs("--ca-cert"),
            (None, true) => return needs("--insecure-skip-tls-verify"),
            // Both: their conflict is the first thing to fix (below).
            (Some(_), true) => {}
        }
    }
    trust_choice(args.trust)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn args(tls: bool, ca: bool, insecure: bool) -> TlsArgs {
        TlsArgs {
            tls,
            trust: TrustArgs {
                ca_cert: ca.then(|| PathBuf::from("/ca.pem")),
                insecure_skip_tls_verify: insecure,
            },
        }
    }

    #[test]
    fn every_valid_combination_gives_its_choice() {
        let ok = |t, c, i| tls_choice(args(t, c, i)).unwrap();
        assert_eq!(ok(false, false, false), TlsChoice::Off);
        assert_eq!(ok(true, false, false), TlsChoice::Verify(None));
        assert_eq!(
            ok(true, true, false),
            TlsChoice::Verify(Some("/ca.pem".into()))
        );
        assert_eq!(ok(true, false, true), TlsChoice::Insecure);
        assert_eq!(ok(true, true, false).ca_cert(), Some(Path::new("/ca.pem")));
        assert!(ok(true, false, true).is_insecure() && ok(true, false, true).is_on());
        assert!(!ok(false, false, false).is_on());
    }

    #[test]
    fn every_invalid_combination_names_the_argument() {
        let err = |t, c, i| tls_choice(args(t, c, i)).unwrap_err().to_string();
        assert_eq!(err(false, true, false), "--ca-cert needs --tls");
        assert_eq!(
            err(false, false, true),
            "--insecure-skip-tls-verify needs --tls"
        );
        let both = "--ca-cert and --insecure-skip-tls-verify cannot be used together";
        assert_eq!(err(false, true, true), both);
        assert_eq!(err(true, true, true), both);
    }

    #[test]
    fn the_trust_options_alone_never_turn_tls_off() {
        let trust = |c, i| trust_choice(args(false, c, i).trust);
        assert_eq!(trust(false, false).unwrap(), TlsChoice::Verify(None));
        assert_eq!(
            trust(true, false).unwrap(),
            TlsChoice::Verify(Some("/ca.pem".into()))
        );
        assert_eq!(trust(false, true).unwrap(), TlsChoice::Insecure);
        assert_eq!(
            trust(true, true).unwrap_err().to_string(),
            "--ca-cert and --insecure-skip-tls-verify cannot be used together"
        );
    }
}
