//! Validated settings for the network waits (`wait-http`, `wait-tcp`).
//!
//! Header values (from `--header` and `--header-file`) are secrets: no error message here ever
//! contains one. A bad header is described by its name, or by its line number in the file.

use std::fmt;
use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue, Method};
use reqwest::Url;
use serde_json_path::JsonPath;

use super::PlanError;
use super::tls::{TlsChoice, trust_choice};
use crate::cli::{HttpArgs, TcpArgs};
use crate::net::file::FILE_CAP;
use crate::net::text::{cut, redact_url};

/// `wait-http`, validated.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The URL (http or https, with a host).
    pub url: Url,
    /// The request method.
    pub method: Method,
    /// Accepted status codes.
    pub status: StatusSet,
    /// `--body-contains` / `--body-regex`.
    pub body: Option<BodyMatch>,
    /// `--json-path` with its optional `--equals`.
    pub json: Option<JsonExpect>,
    /// Request headers from `--header` and `--header-file`, in order; every value is marked
    /// sensitive (its `Debug` prints nothing of it).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// How an https:// server's certificate is checked (`--ca-cert`, read by the probe when it
    /// is built, or `--insecure-skip-tls-verify`); never [`TlsChoice::Off`]: the scheme decides.
    pub tls: TlsChoice,
    /// Follow redirects (the default) or judge the 3xx itself (`--no-follow-redirects`).
    pub follow_redirects: bool,
    /// The `--header-file`s the headers were read from (for `--dry-run`'s notes).
    pub header_files: Vec<PathBuf>,
    /// `--service`: the Service whose ready endpoints wake the check.
    pub service: Option<String>,
}

/// What the body must show.
#[derive(Debug, Clone)]
pub enum BodyMatch {
    /// `--body-contains`.
    Contains(String),
    /// `--body-regex`.
    Regex(regex_lite::Regex),
}

/// `--json-path P [--equals V]`.
#[derive(Debug, Clone)]
pub struct JsonExpect {
    /// The path as given, for messages.
    pub path: String,
    /// The parsed RFC 9535 query.
    pub query: JsonPath,
    /// Every value the path selects must equal this (strings compare unquoted); without it
    /// the path must select something.
    pub equals: Option<String>,
}

/// A set of accepted status codes: `200-299,304`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// Parses `200`, `200-299`, `200-299,304`, `2xx` (spaces around items allowed).
    pub fn parse(s: &str) -> Result<StatusSet, String> {
        let mut ranges = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err("expected codes and ranges like 200-299,304 (an item is empty)".into());
            }
            let (lo, hi) =
                if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
                    let d: u16 = match class {
                        "1" | "2" | "3" | "4" | "5" => class.parse().unwrap_or(0),
                        _ => return Err(format!("{item:?} is not a status class (1xx to 5xx)")),
                    };
                    (d * 100, d * 100 + 99)
                } else if let Some((a, b)) = item.split_once('-') {
                    (code(a.trim())?, code(b.trim())?)
                } else {
                    let c = code(item)?;
                    (c, c)
                };
            if lo > hi {
                return Err(format!(
                    "the range {item:?} is empty (its start is above its end)"
                ));
            }
            ranges.push((lo, hi));
        }
        Ok(StatusSet(ranges))
    }

    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= code && code <= hi)
    }
}

fn code(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(c) if (100..=599).contains(&c) && s.len() == 3 => Ok(c),
        _ => Err(format!("{s:?} is not a status code (100 to 599)")),
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// `wait-tcp`, validated.
#[derive(Debug, Clone)]
pub struct TcpTarget {
    /// The host name or address (an IPv6 address without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `wait-tcp`, validated: the address, and what the first answer must show.
#[derive(Debug, Clone)]
pub struct TcpWait {
    /// Where to connect.
    pub addr: TcpTarget,
    /// `--send`, escapes decoded: written once connected.
    pub send: Option<Vec<u8>>,
    /// `--expect`: the first answer must match it.
    pub expect: Option<regex_lite::Regex>,
    /// `--service`: the Service whose ready endpoints wake the check.
    pub service: Option<String>,
}

/// The value shown in place of a header value (or a header line that may be one).
const HIDDEN: &str = "(hidden)";

/// The longest URL the HTTP client can send (`http::Uri` stores offsets in 16 bits).
pub(crate) const URL_CAP: usize = u16::MAX as usize - 1;

/// Reads at most `limit` bytes of `path` (the one capped read of `net::file`); a longer file
/// (or an endless one) is refused with an error that names the option, the file and the limit.
pub(crate) fn read_capped(
    arg: &'static str,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, PlanError> {
    Ok(crate::net::file::read_capped(path, limit, arg)?)
}

/// A regular expression given as `arg` (`--body-regex`, `--expect`, `wait-file --contains`):
/// regex-lite's syntax, its compiled size capped at 1 MiB.
pub(crate) fn regex(arg: &'static str, given: &str) -> Result<regex_lite::Regex, PlanError> {
    regex_lite::RegexBuilder::new(given)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| PlanError::invalid(arg, given, crate::net::text::one_line(&e.to_string())))
}

/// `wait-http`'s target. In a dry run (`dry_run`), a `--header-file` that does not exist here is
/// skipped (`--dry-run` notes it: the pod may have it).
pub(super) fn http_target(args: HttpArgs, dry_run: bool) -> Result<HttpTarget, PlanError> {
    let url = parse_url(&args.url)?;
    let status = StatusSet::parse(&args.status)
        .map_err(|why| PlanError::invalid("--status", &args.status, why))?;
    let method_name = args.method.trim().to_ascii_uppercase();
    let method = Method::from_bytes(method_name.as_bytes())
        .ok()
        .filter(|_| !method_name.is_empty())
        .ok_or_else(|| PlanError::invalid("--method", &args.method, "not an HTTP method token"))?;
    let body = match (args.body_contains, args.body_regex) {
        (Some(_), Some(_)) => {
            return Err(PlanError::Conflict(
                "--body-contains and --body-regex cannot be used together".into(),
            ));
        }
        (Some(s), None) => {
            if s.is_empty() {
                return Err(PlanError::invalid(
                    "--body-contains",
                    s,
                    "must not be empty",
                ));
            }
            Some(BodyMatch::Contains(s))
        }
        (None, Some(r)) => Some(BodyMatch::Regex(regex("--body-regex", &r)?)),
        (None, None) => None,
    };
    let json = match (args.json_path, args.equals) {
        (None, Some(v)) => return Err(PlanError::invalid("--equals", v, "needs --json-path")),
        (None, None) => None,
        (Some(path), equals) => Some(JsonExpect {
            query: parse_json_path(&path)?,
            path,
            equals,
        }),
    };
    if json.is_some() && body.is_some() {
        return Err(PlanError::Conflict(
            "--json-path cannot be combined with --body-contains or --body-regex".into(),
        ));
    }
    if method == Method::HEAD && (json.is_some() || body.is_some()) {
        return Err(PlanError::Conflict(
            "--method HEAD gets no body, so --body-contains, --body-regex and --json-path cannot apply".into(),
        ));
    }
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = parse_header(h).map_err(|why| {
            // The value given may be a secret: show the header's name at most.
            let shown = h
                .split_once(':')
                .and_then(|(n, _)| HeaderName::from_bytes(n.trim().as_bytes()).ok())
                .map_or_else(|| HIDDEN.to_string(), |n| format!("{n}: {HIDDEN}"));
            PlanError::invalid("--header", shown, why)
        })?;
        headers.push((name, value));
    }
    for path in &args.header_file {
        if dry_run && !path.exists() {
            continue;
        }
        headers.extend(read_header_file(path)?);
    }
    let tls = trust_choice(args.trust)?;
    Ok(HttpTarget {
        url,
        method,
        status,
        body,
        json,
        headers,
        tls,
        follow_redirects: !args.no_follow_redirects,
        header_files: args.header_file,
        service: service_name(args.service)?,
    })
}

fn parse_url(s: &str) -> Result<Url, PlanError> {
    let bad = |why: &str| PlanError::invalid("URL", cut(&redact_url(s), 120), why.to_string());
    let url = Url::parse(s.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(bad(&format!(
                "the scheme must be http or https, not {other}"
            )));
        }
    }
    match url.host_str() {
        None | Some("") => return Err(bad("has no host")),
        Some(_) => {}
    }
    if url.port() == Some(0) {
        return Err(bad("port 0 is not a port to connect to"));
    }
    let len = url.as_str().len();
    if len > URL_CAP {
        return Err(bad(&format!(
            "the URL is {len} bytes long; the HTTP client sends at most {URL_CAP}"
        )));
    }
    // What the HTTP client does with the URL before it sends anything: a URL it refuses is a
    // usage error (exit 2), not a "builder error" retried until the deadline.
    if let Err(e) = url.as_str().parse::<http::Uri>() {
        return Err(bad(&format!("the HTTP client cannot send it ({e})")));
    }
    Ok(url)
}

pub(crate) fn parse_json_path(path: &str) -> Result<JsonPath, PlanError> {
    JsonPath::parse(path).map_err(|e| {
        let why = crate::net::text::one_line(&e.to_string());
        let why = if why.contains("match") || why.contains("search") {
            format!("{why}; kwait does not support the match() and search() functions")
        } else {
            why
        };
        PlanError::invalid(
            "--json-path",
            path,
            format!("not an RFC 9535 JSONPath ({why})"),
        )
    })
}

/// Parses `Name: value`. The error never contains the value.
pub(crate) fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| "expected 'Name: value' (no ':' found)".to_string())?;
    let name = name.trim();
    if name.is_empty() {
        return Err("expected 'Name: value' (the name is empty)".into());
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| "the header name has characters not allowed in a header name".to_string())?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} has characters not allowed in a header value"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Reads a header file: one `Name: value` a line; blank lines and lines starting with `#` are
/// skipped.
fn read_header_file(path: &Path) -> Result<Vec<(HeaderName, HeaderValue)>, PlanError> {
    let bytes = read_capped("--header-file", path, FILE_CAP)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        PlanError::invalid(
            "--header-file",
            path.display().to_string(),
            "not UTF-8 text",
        )
    })?;
    parse_header_lines(&text)
        .map_err(|why| PlanError::invalid("--header-file", path.display().to_string(), why))
}

/// The lines of a header file; errors name the line number (and the header name when it is
/// valid), never the content.
pub(crate) fn parse_header_lines(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let h = parse_header(line).map_err(|why| format!("line {}: {why}", i + 1))?;
        headers.push(h);
    }
    Ok(headers)
}

pub(super) fn tcp_target(args: TcpArgs) -> Result<TcpWait, PlanError> {
    let addr = host_port("HOST:PORT", &args.address, None)?;
    let send = match &args.send {
        None => None,
        Some(s) if s.is_empty() => {
            return Err(PlanError::invalid("--send", s, "must not be empty"));
        }
        Some(s) if s.len() > SEND_CAP => {
            return Err(PlanError::invalid(
                "--send",
                cut(s, 60),
                format!("longer than {SEND_CAP} bytes"),
            ));
        }
        Some(s) => Some(unescape(s).map_err(|why| PlanError::invalid("--send", s, why))?),
    };
    let expect = match &args.expect {
        None if send.is_some() => {
            return Err(PlanError::Conflict(
                "--send needs --expect (the regular expression the answer must match)".into(),
            ));
        }
        None => None,
        Some(r) => Some(regex("--expect", r)?),
    };
    Ok(TcpWait {
        addr,
        send,
        expect,
        service: service_name(args.service)?,
    })
}

/// `--service NAME`: a Service's name (a DNS-1035 label, as the API server requires).
fn service_name(name: Option<String>) -> Result<Option<String>, PlanError> {
    if let Some(n) = &name {
        super::check_dns_label("--service", n)?;
    }
    Ok(name)
}

/// The longest `--send` text.
const SEND_CAP: usize = 64 * 1024;

/// `--send`'s escapes: `\r`, `\n`, `\t`, `\\` and `\xHH`; any other backslash is an error
/// (a typo such as `\R` would otherwise be sent as it is).
pub(crate) fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let value = std::str::from_utf8(&hex)
                    .ok()
                    .filter(|h| h.len() == 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("\\x must be followed by two hex digits, e.g. \\x00")?;
                out.push(value);
            }
            Some(other) => {
                return Err(format!(
                    "unknown escape \\{} (known: \\r \\n \\t \\\\ \\xHH)",
                    char::from(other).escape_default()
                ));
            }
            None => return Err("ends with a lone \\ (write \\\\ for a backslash)".into()),
        }
    }
    Ok(out)
}

/// `HOST:PORT`, `[IPv6]:PORT`, and with `default_port` also `HOST`, `[IPv6]` and a bare IPv6
/// address; errors name `arg`.
pub(crate) fn host_port(
    arg: &'static str,
    address: &str,
    default_port: Option<u16>,
) -> Result<TcpTarget, PlanError> {
    let a = address.trim();
    let bad = |why: &str| PlanError::invalid(arg, address, why.to_string());
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (host, port) = rest
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs a closing ']'"))?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address inside [...]"))?;
        let port = match (port.strip_prefix(':'), default_port) {
            (Some(p), _) => Some(p),
            (None, Some(_)) if port.is_empty() => None,
            (None, _) => return Err(bad("missing :PORT")),
        };
        (host, port)
    } else if default_port.is_some() && a.parse::<std::net::Ipv6Addr>().is_ok() {
        (a, None)
    } else {
        match (a.rsplit_once(':'), default_port) {
            (Some((host, port)), _) => {
                if host.contains(':') {
                    return Err(bad("write an IPv6 address in brackets, e.g. [::1]:5432"));
                }
                (host, Some(port))
            }
            (None, Some(_)) => (a, None),
            (None, None) => return Err(bad("missing :PORT")),
        }
    };
    if host.is_empty() {
        return Err(bad("missing HOST"));
    }
    if !host.contains(':')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(bad("the host must be a DNS name or an IP address"));
    }
    let port: u16 = match (port, default_port) {
        (None, Some(d)) => d,
        (Some(port), _) => match port.parse() {
            Ok(p) if p > 0 && !port.starts_with('+') => p,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
        (None, None) => return Err(bad("missing :PORT")),
    };
    Ok(TcpTarget {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_codes_ranges_and_classes() {
        let s = StatusSet::parse("200-299, 304").unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(304));
        assert!(!s.contains(300) && !s.contains(199) && !s.contains(503));
        assert_eq!(s.to_string(), "200-299,304");
        let s = StatusSet::parse("2xx,401").unwrap();
        assert!(s.contains(250) && s.contains(401) && !s.contains(302));
        assert_eq!(StatusSet::parse("503").unwrap().to_string(), "503");
    }

    #[test]
    fn bad_status_sets_are_refused() {
        for bad in [
            "",
            "abc",
            "200-",
            "-299",
            "299-200",
            "99",
            "600",
            "200,,204",
            "6xx",
            "0200",
            "200-299;304",
        ] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_parse_and_errors_never_show_the_value() {
        let (n, v) = parse_header("Authorization: Bearer s3cr3t").unwrap();
        assert_eq!(n.as_str(), "authorization");
        assert_eq!(v.to_str().unwrap(), "Bearer s3cr3t");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("s3cr3t"));
        let (_, v) = parse_header("X-Empty:").unwrap();
        assert!(v.is_empty());
        for bad in [
            "Bearer s3cr3t",
            ": s3cr3t",
            "Bad Name: s3cr3t",
            "X-Ok: s3cr3t\u{7}",
        ] {
            let e = parse_header(bad).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn header_files_skip_blanks_and_comments_and_name_the_line() {
        let h = parse_header_lines("# token\r\n\r\nAuthorization: Bearer s3cr3t\r\nX-Tenant: a\n")
            .unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].1.to_str().unwrap(), "Bearer s3cr3t");
        let e = parse_header_lines("X-A: b\nBearer s3cr3t\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn url_passwords_are_hidden_in_errors() {
        assert_eq!(redact_url("ftp://u:pw@h/x"), "ftp://u:***@h/x");
        let e = parse_url("ftp://u:pw@h/x").unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
        assert!(e.contains("URL"), "{e}");
    }

    #[test]
    fn an_endless_file_is_refused_at_the_cap_naming_the_option_and_the_limit() {
        let e = read_capped("--header-file", Path::new("/dev/zero"), FILE_CAP)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            r#"--header-file "/dev/zero" is larger than 1 MiB, the most kwait reads"#
        );
        let dir = std::env::temp_dir().join(format!("kwait-capped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("h");
        std::fs::write(&f, "X: 1234").unwrap();
        assert_eq!(read_capped("--header-file", &f, 7).unwrap(), b"X: 1234");
        assert!(read_capped("--header-file", &f, 6).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_url_the_http_client_cannot_send_is_refused_with_its_length() {
        let long = format!("http://u:pw@h/{}", "a".repeat(URL_CAP));
        let e = parse_url(&long).unwrap_err().to_string();
        assert!(e.contains("65534"), "{e}");
        assert!(e.len() < 400, "{e}");
        assert!(!e.contains(":pw@"), "{e}");
        assert!(parse_url(&format!("http://h/{}", "a".repeat(60_000))).is_ok());
    }

    #[test]
    fn json_path_errors_are_one_line() {
        let e = parse_json_path("$..[").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("--json-path"), "{e}");
        assert!(parse_json_path("$.status").is_ok());
        assert!(parse_json_path("$.checks[?@.name == 'db'].ok").is_ok());
    }

    #[test]
    fn tcp_addresses() {
        let t = |a: &str| {
            tcp_target(TcpArgs {
                address: a.into(),
                send: None,
                expect: None,
                service: None,
            })
            .map(|w| w.addr)
        };
        let x = t("postgres:5432").unwrap();
        assert_eq!((x.host.as_str(), x.port), ("postgres", 5432));
        let x = t("[::1]:80").unwrap();
        assert_eq!((x.host.as_str(), x.port), ("::1", 80));
        assert_eq!(x.to_string(), "[::1]:80");
        for bad in [
            "postgres",
            "postgres:",
            ":5432",
            "postgres:0",
            "postgres:65536",
            "postgres:x",
            "::1:80",
            "a b:1",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn send_escapes_decode_and_unknown_ones_are_refused() {
        assert_eq!(unescape("PING\\r\\n").unwrap(), b"PING\r\n");
        assert_eq!(
            unescape("a\\tb\\\\c\\x00\\xfF").unwrap(),
            b"a\tb\\c\x00\xff"
        );
        assert_eq!(unescape("héllo").unwrap(), "héllo".as_bytes());
        for bad in ["\\q", "\\x4", "\\xzz", "end\\"] {
            assert!(unescape(bad).is_err(), "{bad}");
        }
        let t = |send: Option<&str>, expect: Option<&str>| {
            tcp_target(TcpArgs {
                address: "nats:4222".into(),
                send: send.map(String::from),
                expect: expect.map(String::from),
                service: None,
            })
        };
        assert!(t(None, Some("^INFO ")).unwrap().send.is_none());
        assert!(
            t(Some("PING"), None)
                .unwrap_err()
                .to_string()
                .contains("--send needs --expect")
        );
        assert!(
            t(None, Some("("))
                .unwrap_err()
                .to_string()
                .contains("--expect")
        );
    }
}
