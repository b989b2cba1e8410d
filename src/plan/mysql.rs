//! `wait-mysql`, validated: the address (default port 3306), the user, the password (from
//! `--password-file` only, [`super::password`]), the database and the TLS options.

use std::path::PathBuf;

use super::PlanError;
use super::db::{check_name, host_port};
use super::net::TcpTarget;
use super::password::{Password, read_password};
use super::tls::{TlsChoice, tls_choice};
use crate::cli::MysqlArgs;

/// MySQL's port when none is given.
pub const MYSQL_PORT: u16 = 3306;

/// The longest user name MySQL 8 accepts (MariaDB: 80 characters); a longer one is a mistake.
const USER_CAP: usize = 80;
/// The longest database name (64 characters in both).
const DATABASE_CAP: usize = 64;

/// `wait-mysql`, validated.
#[derive(Debug, Clone)]
pub struct MysqlTarget {
    /// Host and port.
    pub addr: TcpTarget,
    /// `--user`.
    pub user: String,
    /// `--password-file`'s content (`None` only in a dry run where the file is not here).
    pub password: Option<Password>,
    /// `--database`: it must exist and the user may use it.
    pub database: Option<String>,
    /// `--tls` and its CA options.
    pub tls: TlsChoice,
    /// `--password-file` as given (for `--dry-run`'s notes).
    pub password_file: PathBuf,
}

/// `wait-mysql`'s target. In a dry run (`dry_run`), a `--password-file` that does not exist
/// here is not read (`--dry-run` notes it: the pod may have it).
pub(super) fn mysql_target(args: MysqlArgs, dry_run: bool) -> Result<MysqlTarget, PlanError> {
    let addr = host_port("HOST[:PORT]", &args.address, MYSQL_PORT)?;
    check_name("--user", &args.user)?;
    if args.user.chars().count() > USER_CAP {
        return Err(PlanError::invalid(
            "--user",
            crate::net::text::cut(&args.user, 40),
            format!("longer than {USER_CAP} characters"),
        ));
    }
    if let Some(db) = &args.database {
        check_name("--database", db)?;
        if db.chars().count() > DATABASE_CAP {
            return Err(PlanError::invalid(
                "--database",
                crate::net::text::cut(db, 40),
                format!("longer than {DATABASE_CAP} characters"),
            ));
        }
    }
    let password = read_password(Some(&args.password_file), dry_run)?;
    let tls = tls_choice(args.tls)?;
    Ok(MysqlTarget {
        addr,
        user: args.user,
        password,
        database: args.database,
        tls,
        password_file: args.password_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(address: &str, pw: &std::path::Path) -> MysqlArgs {
        MysqlArgs {
            address: address.into(),
            user: "app".into(),
            password_file: pw.to_path_buf(),
            database: None,
            tls: Default::default(),
        }
    }

    #[test]
    fn the_port_defaults_to_3306_and_names_are_checked() {
        let dir = std::env::temp_dir().join(format!("kwait-mysql-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        std::fs::write(&pw, "s3cret-mysql\n").unwrap();
        let t = |a: &str| mysql_target(args(a, &pw), false).map(|t| t.addr.to_string());
        assert_eq!(t("db").unwrap(), "db:3306");
        assert_eq!(t("db.crs.svc:3307").unwrap(), "db.crs.svc:3307");
        assert_eq!(t("::1").unwrap(), "[::1]:3306");
        assert!(t("db:0").is_err());
        let ok = mysql_target(args("db", &pw), false).unwrap();
        assert_eq!(ok.password.as_ref().unwrap().bytes(), b"s3cret-mysql");
        assert!(!format!("{ok:?}").contains("s3cret"));
        let mut a = args("db", &pw);
        a.database = Some("x".repeat(65));
        let e = mysql_target(a, false).unwrap_err().to_string();
        assert!(e.contains("--database") && e.contains("64"), "{e}");
        let mut a = args("db", &pw);
        a.user = String::new();
        assert!(
            mysql_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("--user")
        );
        let mut a = args("db", &pw);
        a.tls.trust.insecure_skip_tls_verify = true;
        assert_eq!(
            mysql_target(a, false).unwrap_err().to_string(),
            "--insecure-skip-tls-verify needs --tls"
        );
        // A dry run does not need the file; a real run does.
        let missing = dir.join("none");
        assert!(mysql_target(args("db", &missing), true).is_ok());
        let e = mysql_target(args("db", &missing), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--password-file"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
