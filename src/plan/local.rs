//! `wait-dns` and `wait-file`, validated: a name and how many records it needs; a path and what
//! its content must show.

use std::path::PathBuf;

use super::PlanError;
use crate::cli::{DnsArgs, FileArgs};

/// The most `--min` of `wait-dns` accepts: a DNS answer holds far fewer records.
const MIN_CAP: usize = 1000;

/// Which records `wait-dns` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    /// Any address, IPv4 or IPv6 (no `--type`).
    Any,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// SRV targets.
    Srv,
}

impl DnsType {
    /// What is counted, in words: `address`, `IPv4 address`, `SRV target`.
    pub fn noun(self) -> &'static str {
        match self {
            DnsType::Any => "address",
            DnsType::A => "IPv4 address (A)",
            DnsType::Aaaa => "IPv6 address (AAAA)",
            DnsType::Srv => "SRV target",
        }
    }
}

/// `wait-dns`, validated.
#[derive(Debug, Clone)]
pub struct DnsTarget {
    /// The name as given (a trailing dot makes it absolute: no search list).
    pub name: String,
    /// `--type`.
    pub kind: DnsType,
    /// `--min`: how many distinct addresses or SRV targets are needed.
    pub min: usize,
}

/// `wait-file`, validated.
#[derive(Debug, Clone)]
pub struct FileTarget {
    /// The path as given.
    pub path: PathBuf,
    /// `--nonempty`.
    pub nonempty: bool,
    /// `--contains`.
    pub contains: Option<regex_lite::Regex>,
}

/// `wait-dns`'s target.
pub(super) fn dns_target(args: DnsArgs) -> Result<DnsTarget, PlanError> {
    let name = args.name;
    let bare = name.strip_suffix('.').unwrap_or(&name);
    let bad = |why: &str| PlanError::invalid("NAME", &name, why.to_string());
    if bare.is_empty() {
        return Err(bad("must not be empty"));
    }
    if bare.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("an IP address, not a name: it resolves to itself"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !bare.split('.').all(label_ok) {
        return Err(bad(
            "a DNS name: labels of letters, digits, '-' and '_' (63 characters at most) joined by dots",
        ));
    }
    let kind = match args.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None => DnsType::Any,
        Some("A") => DnsType::A,
        Some("AAAA") => DnsType::Aaaa,
        Some("SRV") => DnsType::Srv,
        Some(_) => {
            return Err(PlanError::invalid(
                "--type",
                args.kind.unwrap_or_default(),
                "expected A, AAAA or SRV",
            ));
        }
    };
    let min = (args.min.parse::<usize>().ok())
        .filter(|n| (1..=MIN_CAP).contains(n))
        .ok_or_else(|| {
            PlanError::invalid("--min", &args.min, format!("a number from 1 to {MIN_CAP}"))
        })?;
    Ok(DnsTarget { name, kind, min })
}

/// `wait-file`'s target.
pub(super) fn file_target(args: FileArgs) -> Result<FileTarget, PlanError> {
    if args.path.as_os_str().is_empty() {
        return Err(PlanError::invalid("PATH", "", "must not be empty"));
    }
    let contains = match &args.contains {
        Some(r) => Some(super::net::regex("--contains", r)?),
        None => None,
    };
    Ok(FileTarget {
        path: args.path,
        nonempty: args.nonempty,
        contains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(name: &str, kind: Option<&str>, min: &str) -> Result<DnsTarget, String> {
        dns_target(DnsArgs {
            name: name.into(),
            kind: kind.map(String::from),
            min: min.into(),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn dns_names_types_and_counts_are_checked_and_named() {
        let t = dns("db-0.db.crs.svc", None, "1").unwrap();
        assert_eq!((t.kind, t.min), (DnsType::Any, 1));
        let t = dns("_pg._tcp.db.crs.svc.cluster.local.", Some("srv"), "3").unwrap();
        assert_eq!((t.kind, t.min), (DnsType::Srv, 3));
        assert_eq!(dns("x", Some("AAAA"), "1").unwrap().kind, DnsType::Aaaa);
        for (name, kind, min, says) in [
            ("", None, "1", "NAME"),
            ("a..b", None, "1", "NAME"),
            ("a b", None, "1", "NAME"),
            ("10.0.0.1", None, "1", "an IP address"),
            ("db", Some("MX"), "1", "--type"),
            ("db", None, "0", "--min"),
            ("db", None, "1001", "--min"),
            ("db", None, "x", "--min"),
        ] {
            let e = dns(name, kind, min).unwrap_err();
            assert!(e.contains(says), "{name} {kind:?} {min}: {e}");
        }
    }

    #[test]
    fn a_file_target_needs_a_path_and_a_valid_regex() {
        let f = |p: &str, re: Option<&str>| {
            file_target(FileArgs {
                path: p.into(),
                nonempty: false,
                contains: re.map(String::from),
            })
            .map_err(|e| e.to_string())
        };
        assert!(f("/tmp/x", Some("^ready$")).is_ok());
        assert!(f("", None).unwrap_err().contains("PATH"));
        assert!(f("/x", Some("(")).unwrap_err().contains("--contains"));
    }
}
