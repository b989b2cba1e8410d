//! `wait-nats` and `wait-rabbitmq`, validated: the address (`HOST[:PORT]` or the broker's own
//! URL, `nats://[USER@]HOST[:PORT]`, `amqp[s]://USER@HOST[:PORT][/VHOST]`), the login (the
//! password or token only from a file, [`super::password`]) and the TLS options
//! ([`super::tls`]).

use std::path::PathBuf;

use super::PlanError;
use super::net::{TcpTarget, host_port};
use super::password::{Password, read_password};
use super::tls::{TlsChoice, tls_choice};
use crate::cli::{NatsArgs, RabbitmqArgs};

/// NATS's client port when none is given.
pub const NATS_PORT: u16 = 4222;
/// AMQP's port when none is given (`amqp://`, `HOST`).
pub const AMQP_PORT: u16 = 5672;
/// AMQP over TLS's port when none is given (`amqps://`).
pub const AMQPS_PORT: u16 = 5671;

/// The longest user name or vhost accepted: AMQP sends a vhost as a short string (255 bytes).
const NAME_CAP: usize = 255;

/// `wait-nats`, validated.
#[derive(Debug, Clone)]
pub struct NatsTarget {
    /// Where to connect.
    pub addr: TcpTarget,
    /// `--user` (or the URL's user): logs in with `user` and `pass`.
    pub user: Option<String>,
    /// `--password-file`'s content.
    pub password: Option<Password>,
    /// `--token-file`'s content: logs in with `auth_token`.
    pub token: Option<Password>,
    /// `--tls` and its CA options.
    pub tls: TlsChoice,
    /// `--password-file` and `--token-file` as given (for `--dry-run`'s notes).
    pub files: Vec<(&'static str, PathBuf)>,
}

/// `wait-rabbitmq`, validated.
#[derive(Debug, Clone)]
pub struct RabbitmqTarget {
    /// Where to connect.
    pub addr: TcpTarget,
    /// `--user` (or the URL's user); with `password`, the PLAIN login.
    pub user: Option<String>,
    /// `--password-file`'s content: with it kwait logs in and opens `vhost`.
    pub password: Option<Password>,
    /// The vhost to open: `--vhost`, the URL's path (decoded), else `/`.
    pub vhost: String,
    /// `--tls` (or `amqps://`) and its CA options.
    pub tls: TlsChoice,
    /// `--password-file` as given (for `--dry-run`'s notes).
    pub password_file: Option<PathBuf>,
}

/// An address as given: `HOST[:PORT]`, or `SCHEME://[USER@]HOST[:PORT][/PATH]` with one of
/// `schemes`.
struct Address<'a> {
    /// The scheme, lowercased, when a URL was given.
    scheme: Option<String>,
    /// The user before `@`, percent-decoded.
    user: Option<String>,
    /// `HOST[:PORT]`.
    host_port: &'a str,
    /// What follows the first `/` after the host, still encoded (`None`: no `/`).
    path: Option<&'a str>,
}

/// Splits `given` (the `ADDRESS` argument) into its parts; `schemes` are the URL schemes the
/// command takes, `form` the address forms for an error.
fn split_address<'a>(
    given: &'a str,
    schemes: &[&str],
    form: &str,
) -> Result<Address<'a>, PlanError> {
    let bad = |why: String| PlanError::invalid("ADDRESS", given, why);
    let Some((scheme, rest)) = given.split_once("://") else {
        return Ok(Address {
            scheme: None,
            user: None,
            host_port: given,
            path: None,
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return Err(bad(format!(
            "the scheme must be {} ({form})",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    if path.is_some_and(|p| p.contains(['?', '#'])) || authority.contains(['?', '#']) {
        return Err(bad(format!("a query or fragment is not taken ({form})")));
    }
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if userinfo.contains(':') {
                return Err(bad(
                    "a password in the address would be seen in the pod spec and the process list: put it in a file and pass --password-file".into(),
                ));
            }
            let user = percent_decode(userinfo).map_err(|why| bad(format!("the user {why}")))?;
            (Some(user), host)
        }
        None => (None, authority),
    };
    Ok(Address {
        scheme: Some(scheme),
        user,
        host_port,
        path,
    })
}

/// `%XX` decoded (UTF-8); the error says what is wrong.
fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex: Option<u8> = match (bytes.next(), bytes.next()) {
            (Some(h), Some(l)) => std::str::from_utf8(&[h, l])
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok()),
            _ => None,
        };
        out.push(hex.ok_or("has a % not followed by two hex digits")?);
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once decoded".to_string())
}

/// A user name: 1 to 255 bytes without control characters (it goes into JSON for NATS and a
/// PLAIN response for AMQP, where a NUL would end it).
fn check_user(arg: &'static str, user: &str) -> Result<(), PlanError> {
    if user.is_empty() || user.len() > NAME_CAP || user.chars().any(char::is_control) {
        return Err(PlanError::invalid(
            arg,
            crate::net::text::cut(user, 40),
            "must be 1 to 255 bytes without control characters",
        ));
    }
    Ok(())
}

/// The user from `--user` and the address: either, or both when they agree.
fn one_user(flag: Option<String>, in_url: Option<String>) -> Result<Option<String>, PlanError> {
    match (flag, in_url) {
        (Some(a), Some(b)) if a != b => Err(PlanError::Conflict(format!(
            "--user {} and the user {} in ADDRESS differ: give one",
            crate::net::text::printable(&a, 40),
            crate::net::text::printable(&b, 40)
        ))),
        (Some(u), _) | (None, Some(u)) => {
            check_user("--user", &u)?;
            Ok(Some(u))
        }
        (None, None) => Ok(None),
    }
}

/// A password or token NATS receives inside its JSON `CONNECT`: text, not bytes.
fn utf8(arg: &'static str, pw: &Option<Password>, file: &Option<PathBuf>) -> Result<(), PlanError> {
    match (pw, file) {
        (Some(p), Some(f)) if std::str::from_utf8(p.bytes()).is_err() => Err(PlanError::invalid(
            arg,
            f.display().to_string(),
            "NATS takes text (UTF-8) credentials: the file is not UTF-8",
        )),
        _ => Ok(()),
    }
}

/// `wait-nats`'s target. In a dry run (`dry_run`), a credentials file that does not exist here
/// is not read (`--dry-run` notes it: the pod may have it).
pub(super) fn nats_target(args: NatsArgs, dry_run: bool) -> Result<NatsTarget, PlanError> {
    const FORM: &str = "HOST[:PORT] or nats://[USER@]HOST[:PORT]";
    let a = split_address(&args.address, &["nats"], FORM)?;
    if a.path.is_some_and(|p| !p.is_empty()) {
        return Err(PlanError::invalid(
            "ADDRESS",
            &args.address,
            format!("a NATS address has no path ({FORM})"),
        ));
    }
    let addr = host_port("ADDRESS", a.host_port, Some(NATS_PORT))?;
    let user = one_user(args.user, a.user)?;
    if args.token_file.is_some() && user.is_some() {
        return Err(PlanError::Conflict(
            "--token-file logs in with a token alone: leave out --user and the user in ADDRESS"
                .into(),
        ));
    }
    match (&user, &args.password_file) {
        (Some(_), None) => {
            return Err(PlanError::Conflict(
                "a NATS user needs --password-file (the password, from a file only)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(PlanError::Conflict(
                "--password-file needs --user (or nats://USER@HOST); for a token, --token-file"
                    .into(),
            ));
        }
        _ => {}
    }
    let password = read_password(args.password_file.as_deref(), dry_run)?;
    utf8("--password-file", &password, &args.password_file)?;
    let token =
        super::password::read_secret_file(args.token_file.as_deref(), "--token-file", dry_run)?;
    utf8("--token-file", &token, &args.token_file)?;
    let tls = tls_choice(args.tls)?;
    let files = (args
        .password_file
        .map(|f| ("--password-file", f))
        .into_iter())
    .chain(args.token_file.map(|f| ("--token-file", f)))
    .collect();
    Ok(NatsTarget {
        addr,
        user,
        password,
        token,
        tls,
        files,
    })
}

/// `wait-rabbitmq`'s target. In a dry run (`dry_run`), a `--password-file` that does not exist
/// here is not read (`--dry-run` notes it: the pod may have it).
pub(super) fn rabbitmq_target(
    args: RabbitmqArgs,
    dry_run: bool,
) -> Result<RabbitmqTarget, PlanError> {
    const FORM: &str = "HOST[:PORT], amqp://USER@HOST[:PORT][/VHOST] or amqps://...";
    let a = split_address(&args.address, &["amqp", "amqps"], FORM)?;
    let amqps = a.scheme.as_deref() == Some("amqps");
    let port = if amqps { AMQPS_PORT } else { AMQP_PORT };
    let addr = host_port("ADDRESS", a.host_port, Some(port))?;
    let in_url = match a.path {
        None => None,
        Some("") => {
            return Err(PlanError::invalid(
                "ADDRESS",
                &args.address,
                "the path names an empty vhost: leave it out for the vhost /, or write %2F",
            ));
        }
        Some(p) => Some(percent_decode(p).map_err(|why| {
            PlanError::invalid("ADDRESS", &args.address, format!("the vhost {why}"))
        })?),
    };
    let vhost = match (args.vhost, in_url) {
        (Some(v), Some(u)) if v != u => {
            return Err(PlanError::Conflict(format!(
                "--vhost {} and the vhost {} in ADDRESS differ: give one",
                crate::net::text::printable(&v, 40),
                crate::net::text::printable(&u, 40)
            )));
        }
        (Some(v), _) | (None, Some(v)) => Some(v),
        (None, None) => None,
    };
    if let Some(v) = &vhost
        && (v.is_empty() || v.len() > NAME_CAP || v.chars().any(char::is_control))
    {
        return Err(PlanError::invalid(
            "--vhost",
            crate::net::text::cut(v, 40),
            "must be 1 to 255 bytes without control characters",
        ));
    }
    let user = one_user(args.user, a.user)?;
    match (&user, &args.password_file) {
        (Some(_), None) => {
            return Err(PlanError::Conflict(
                "a RabbitMQ user needs --password-file (the password, from a file only)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(PlanError::Conflict(
                "--password-file needs --user (or amqp://USER@HOST)".into(),
            ));
        }
        (None, None) if vhost.is_some() => {
            return Err(PlanError::Conflict(
                "a vhost is opened after logging in: it needs --user and --password-file".into(),
            ));
        }
        _ => {}
    }
    let password = read_password(args.password_file.as_deref(), dry_run)?;
    let mut tls_args = args.tls;
    tls_args.tls |= amqps;
    let tls = tls_choice(tls_args)?;
    Ok(RabbitmqTarget {
        addr,
        user,
        password,
        vhost: vhost.unwrap_or_else(|| "/".into()),
        tls,
        password_file: args.password_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::TlsArgs;

    fn nats(address: &str) -> NatsArgs {
        NatsArgs {
            address: address.into(),
            user: None,
            password_file: None,
            token_file: None,
            tls: TlsArgs::default(),
        }
    }

    fn rabbit(address: &str) -> RabbitmqArgs {
        RabbitmqArgs {
            address: address.into(),
            user: None,
            password_file: None,
            vhost: None,
            tls: TlsArgs::default(),
        }
    }

    fn pw_file(name: &str, text: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kwait-broker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f
    }

    #[test]
    fn nats_addresses_take_port_4222_and_the_url_form() {
        let t = |a: &str| nats_target(nats(a), true).map(|t| (t.addr.to_string(), t.user));
        assert_eq!(t("nats").unwrap(), ("nats:4222".into(), None));
        assert_eq!(t("nats.msg.svc:4223").unwrap().0, "nats.msg.svc:4223");
        assert_eq!(t("nats://nats").unwrap().0, "nats:4222");
        assert_eq!(t("NATS://[::1]:5000").unwrap().0, "[::1]:5000");
        assert_eq!(t("nats://nats/").unwrap().0, "nats:4222");
        for bad in [
            "",
            "nats:0",
            "http://nats",
            "nats://",
            "nats://nats/x",
            "nats://nats?x=1",
            "nats://a b",
        ] {
            let e = t(bad).unwrap_err().to_string();
            assert!(e.contains("ADDRESS"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_nats_user_comes_with_a_password_file_and_a_token_alone() {
        let f = pw_file("nats-pw", b"n4ts-s3cret\n");
        let mut a = nats("nats://app%40x@nats");
        a.password_file = Some(f.clone());
        let t = nats_target(a, false).unwrap();
        assert_eq!(t.user.as_deref(), Some("app@x"));
        assert_eq!(t.password.unwrap().bytes(), b"n4ts-s3cret");
        assert_eq!(t.files, vec![("--password-file", f.clone())]);
        let mut a = nats("nats");
        a.token_file = Some(f.clone());
        let t = nats_target(a, false).unwrap();
        assert_eq!(t.token.unwrap().bytes(), b"n4ts-s3cret");
        for (a, says) in [
            (
                NatsArgs {
                    user: Some("app".into()),
                    ..nats("nats")
                },
                "needs --password-file",
            ),
            (
                NatsArgs {
                    password_file: Some(f.clone()),
                    ..nats("nats")
                },
                "--password-file needs --user",
            ),
            (
                NatsArgs {
                    token_file: Some(f.clone()),
                    ..nats("nats://app@nats")
                },
                "--token-file logs in with a token alone",
            ),
            (
                NatsArgs {
                    user: Some("b".into()),
                    password_file: Some(f.clone()),
                    ..nats("nats://a@nats")
                },
                "differ",
            ),
            (nats("nats://app:pw@nats"), "--password-file"),
            (nats("nats://%zz@nats"), "two hex digits"),
        ] {
            let e = nats_target(a, false).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let bin = pw_file("nats-bin", b"\xff\xfe");
        let a = NatsArgs {
            token_file: Some(bin),
            ..nats("nats")
        };
        let e = nats_target(a, false).unwrap_err().to_string();
        assert!(e.contains("--token-file") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn amqp_urls_give_the_port_tls_and_the_decoded_vhost() {
        let f = pw_file("amqp-pw", b"r4bbit\n");
        let t = |address: &str, vhost: Option<&str>| {
            let mut a = rabbit(address);
            a.vhost = vhost.map(String::from);
            if address.contains('@') || vhost.is_some() {
                a.password_file = Some(f.clone());
                if !address.contains('@') {
                    a.user = Some("app".into());
                }
            }
            rabbitmq_target(a, false).map(|t| {
                (
                    t.addr.to_string(),
                    t.vhost,
                    t.tls.is_on(),
                    t.user.unwrap_or_default(),
                )
            })
        };
        let ok = |address: &str| t(address, None).unwrap();
        assert_eq!(
            ok("rabbit"),
            ("rabbit:5672".into(), "/".into(), false, "".into())
        );
        assert_eq!(
            ok("amqp://app@rabbit"),
            ("rabbit:5672".into(), "/".into(), false, "app".into())
        );
        assert_eq!(
            ok("amqps://app@rabbit"),
            ("rabbit:5671".into(), "/".into(), true, "app".into())
        );
        assert_eq!(ok("amqp://app@rabbit:5673/prod").1, "prod");
        assert_eq!(ok("amqp://app@rabbit/%2F").1, "/");
        assert_eq!(ok("amqp://app@rabbit/a%2Fb%20c").1, "a/b c");
        assert_eq!(t("rabbit", Some("prod")).unwrap().1, "prod");
        assert_eq!(t("amqp://app@rabbit/prod", Some("prod")).unwrap().1, "prod");
        for (address, vhost, says) in [
            ("amqp://app@rabbit/", None, "empty vhost"),
            ("amqp://app@rabbit/a", Some("b"), "differ"),
            ("amqp://app@rabbit/%", None, "two hex digits"),
            ("amqp://app@rabbit/%ff", None, "UTF-8"),
            ("amqp://app:pw@rabbit", None, "--password-file"),
            ("http://rabbit", None, "amqp:// or amqps://"),
            ("rabbit", Some(""), "--vhost"),
        ] {
            let e = t(address, vhost).unwrap_err().to_string();
            assert!(e.contains(says), "{address} {vhost:?}: {e}");
        }
        let e = rabbitmq_target(
            RabbitmqArgs {
                vhost: Some("prod".into()),
                ..rabbit("rabbit")
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs --user and --password-file"), "{e}");
        let e = rabbitmq_target(rabbit("amqp://app@rabbit"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs --password-file"), "{e}");
    }

    #[test]
    fn amqps_takes_the_trust_options_without_tls() {
        let mut a = rabbit("amqps://rabbit");
        a.tls.trust.insecure_skip_tls_verify = true;
        assert_eq!(rabbitmq_target(a, false).unwrap().tls, TlsChoice::Insecure);
        let mut a = rabbit("amqp://rabbit");
        a.tls.trust.insecure_skip_tls_verify = true;
        assert_eq!(
            rabbitmq_target(a, false).unwrap_err().to_string(),
            "--insecure-skip-tls-verify needs --tls"
        );
    }
}
