//! Validated settings for the database waits (`wait-postgres`).
//!
//! The password comes from `--password-file` ([`super::password`]).

use std::path::PathBuf;

use super::PlanError;
use super::net::TcpTarget;
use super::password::{Password, read_password};
use super::tls::{TlsChoice, tls_choice};
use crate::cli::PostgresArgs;

/// PostgreSQL's port when none is given.
pub const POSTGRES_PORT: u16 = 5432;

/// The longest user or database name accepted (the server cuts names at 63 bytes; a longer one
/// cannot name anything, but a little slack keeps the error the server's own).
const NAME_CAP: usize = 255;

/// `wait-postgres`, validated.
#[derive(Debug, Clone)]
pub struct PostgresTarget {
    /// Host and port.
    pub addr: TcpTarget,
    /// `--user`.
    pub user: String,
    /// `--database` (the user's name when not given).
    pub database: String,
    /// `--password-file`'s content: with it, the probe logs in and runs `SELECT 1`.
    pub password: Option<Password>,
    /// `--tls` and its CA options.
    pub tls: TlsChoice,
    /// `--password-file` as given (for `--dry-run`'s notes).
    pub password_file: Option<PathBuf>,
}

/// `wait-postgres`'s target. In a dry run (`dry_run`), a `--password-file` that does not exist
/// here is not read (`--dry-run` notes it: the pod may have it).
pub(super) fn postgres_target(
    args: PostgresArgs,
    dry_run: bool,
) -> Result<PostgresTarget, PlanError> {
    let addr = host_port("HOST[:PORT]", &args.address, POSTGRES_PORT)?;
    check_name("--user", &args.user)?;
    let database = args.database.unwrap_or_else(|| args.user.clone());
    check_name("--database", &database)?;
    let password = read_password(args.password_file.as_deref(), dry_run)?;
    let tls = tls_choice(args.tls)?;
    Ok(PostgresTarget {
        addr,
        user: args.user,
        database,
        password,
        tls,
        password_file: args.password_file,
    })
}

/// A user or database name: not empty, no NUL (the startup message is NUL-separated).
pub(super) fn check_name(arg: &'static str, s: &str) -> Result<(), PlanError> {
    if s.is_empty() {
        return Err(PlanError::invalid(arg, s, "must not be empty"));
    }
    if s.len() > NAME_CAP {
        return Err(PlanError::invalid(
            arg,
            crate::net::text::cut(s, 40),
            format!("longer than {NAME_CAP} bytes"),
        ));
    }
    if s.contains('\0') {
        return Err(PlanError::invalid(
            arg,
            s,
            "must not contain a NUL character",
        ));
    }
    Ok(())
}

/// `HOST[:PORT]` with `default` as the port (`db`, `db:5433`, `[::1]:5433`, a bare `::1`):
/// wait-tcp's parser with a default port.
pub(crate) fn host_port(
    arg: &'static str,
    given: &str,
    default: u16,
) -> Result<TcpTarget, PlanError> {
    super::net::host_port(arg, given, Some(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(address: &str) -> PostgresArgs {
        PostgresArgs {
            address: address.into(),
            user: "postgres".into(),
            database: None,
            password_file: None,
            tls: Default::default(),
        }
    }

    #[test]
    fn host_port_takes_the_default_port_and_brackets() {
        let hp = |s| {
            host_port("HOST[:PORT]", s, 5432)
                .map(|t| t.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(hp("postgres").unwrap(), "postgres:5432");
        assert_eq!(hp("db.crs.svc:5433").unwrap(), "db.crs.svc:5433");
        assert_eq!(hp("10.0.0.1").unwrap(), "10.0.0.1:5432");
        assert_eq!(hp("[::1]").unwrap(), "[::1]:5432");
        assert_eq!(hp("[::1]:6000").unwrap(), "[::1]:6000");
        assert_eq!(hp("::1").unwrap(), "[::1]:5432");
        for bad in [
            "", ":5432", "db:0", "db:65536", "db:+5", "db:x", "[::1", "[x]:1", "a b", "1::2::3",
        ] {
            let e = hp(bad).unwrap_err();
            assert!(e.contains("HOST[:PORT]"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_database_defaults_to_the_user_and_tls_options_need_tls() {
        let mut a = args("db");
        a.user = "app".into();
        let t = postgres_target(a, false).unwrap();
        assert_eq!((t.user.as_str(), t.database.as_str()), ("app", "app"));
        assert_eq!(t.tls, TlsChoice::Off);
        let mut a = args("db");
        a.tls.trust.ca_cert = Some("/x".into());
        assert!(
            postgres_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("--ca-cert needs --tls")
        );
        let mut a = args("db");
        a.tls.tls = true;
        a.tls.trust.insecure_skip_tls_verify = true;
        assert_eq!(postgres_target(a, false).unwrap().tls, TlsChoice::Insecure);
        let mut a = args("db");
        a.user = String::new();
        assert!(
            postgres_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("--user")
        );
    }

    #[test]
    fn a_password_file_is_read_capped_trimmed_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("kwait-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, b"s3cret-pw-db\r\n\n").unwrap();
        let mut a = args("db");
        a.password_file = Some(f.clone());
        let t = postgres_target(a, false).unwrap();
        let pw = t.password.unwrap();
        assert_eq!(pw.bytes(), b"s3cret-pw-db");
        assert!(!format!("{pw:?}").contains("s3cret"));
        assert_eq!(crate::net::text::scrub("x s3cret-pw-db y"), "x *** y");
        std::fs::write(&f, b"\n").unwrap();
        let mut a = args("db");
        a.password_file = Some(f.clone());
        assert!(
            postgres_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let mut a = args("db");
        a.password_file = Some("/dev/zero".into());
        let e = postgres_target(a, false).unwrap_err().to_string();
        assert!(e.contains("larger than 4 KiB"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
