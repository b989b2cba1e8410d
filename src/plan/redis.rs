//! `wait-redis`, validated: the address (default port 6379), the credentials (the password only
//! from a file, registered as a secret the moment it is read) and the TLS options.

use std::path::PathBuf;

use super::PlanError;
use super::net::{TcpTarget, host_port};
use super::password::{Password, read_password};
use super::tls::{TlsChoice, tls_choice};
use crate::cli::RedisArgs;

/// Redis's port when none is given.
pub const REDIS_PORT: u16 = 6379;

/// `wait-redis`, validated.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    /// Where to connect.
    pub addr: TcpTarget,
    /// `--user`: an ACL user (`AUTH user password`); without it `AUTH password`.
    pub user: Option<String>,
    /// The password from `--password-file`.
    pub password: Option<Password>,
    /// `--tls` and its CA options (`--ca-cert` is read when the probe is built).
    pub tls: TlsChoice,
    /// `--password-file` as given (for `--dry-run`'s notes).
    pub password_file: Option<PathBuf>,
}

/// `wait-redis`'s target. In a dry run (`dry_run`), a `--password-file` that does not exist here
/// is not read (`--dry-run` notes it: the pod may have it).
pub(super) fn redis_target(args: RedisArgs, dry_run: bool) -> Result<RedisTarget, PlanError> {
    let addr = host_port("HOST[:PORT]", &args.address, Some(REDIS_PORT))?;
    let password = read_password(args.password_file.as_deref(), dry_run)?;
    if let Some(user) = &args.user {
        if args.password_file.is_none() {
            return Err(PlanError::Conflict(
                "--user needs --password-file (AUTH sends a user with a password; for a nopass user, any text)".into(),
            ));
        }
        if user.is_empty()
            || user.len() > 256
            || user
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(PlanError::invalid(
                "--user",
                user,
                "must be 1 to 256 characters without spaces or control characters",
            ));
        }
    }
    let tls = tls_choice(args.tls)?;
    Ok(RedisTarget {
        addr,
        user: args.user,
        password,
        tls,
        password_file: args.password_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(address: &str) -> RedisArgs {
        RedisArgs {
            address: address.into(),
            password_file: None,
            user: None,
            tls: Default::default(),
        }
    }

    #[test]
    fn the_port_defaults_to_6379() {
        let t = |a: &str| redis_target(args(a), false).map(|r| r.addr.to_string());
        assert_eq!(t("redis").unwrap(), "redis:6379");
        assert_eq!(t("redis.cache.svc:6380").unwrap(), "redis.cache.svc:6380");
        assert_eq!(t("[::1]").unwrap(), "[::1]:6379");
        assert_eq!(t("::1").unwrap(), "[::1]:6379");
        assert_eq!(t("[::1]:7000").unwrap(), "[::1]:7000");
        for bad in ["", ":6379", "redis:0", "redis:x", "a b", "[::1"] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_comes_from_a_file_without_its_line_break_and_is_never_shown() {
        let dir = std::env::temp_dir().join(format!("kwait-redis-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "s3cr3t pass\r\n").unwrap();
        let mut a = args("redis");
        a.password_file = Some(f.clone());
        a.user = Some("app".into());
        let r = redis_target(a, false).unwrap();
        assert_eq!(r.password.as_ref().unwrap().bytes(), b"s3cr3t pass");
        assert!(!format!("{r:?}").contains("s3cr3t"));
        assert_eq!(crate::net::text::scrub("x s3cr3t pass y"), "x *** y");
        std::fs::write(&f, "\n").unwrap();
        let mut a = args("redis");
        a.password_file = Some(f);
        assert!(
            redis_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("--password-file")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn options_that_need_another_are_refused() {
        let mut a = args("redis");
        a.user = Some("app".into());
        assert!(
            redis_target(a, false)
                .unwrap_err()
                .to_string()
                .contains("--user needs --password-file")
        );
        let mut a = args("redis");
        a.tls.trust.insecure_skip_tls_verify = true;
        assert_eq!(
            redis_target(a, false).unwrap_err().to_string(),
            "--insecure-skip-tls-verify needs --tls"
        );
    }
}
