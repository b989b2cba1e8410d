//! Text that came from outside (a server's answer, an error chain, a file the operator named)
//! made safe to print, and the credentials kwait holds kept out of everything it prints.
//!
//! Two rules, each enforced in one place:
//! - **Escape at the source.** Every string a server or a plugin sent passes through
//!   [`printable`] (or [`one_line`]) before it becomes part of an observation: whitespace and
//!   line breaks fold into one space, other control characters (ESC, BEL, DEL, C1) and the
//!   invisible bidirectional-formatting characters (U+202E, ...) become a visible `\u{..}`, so a
//!   server cannot forge a `kwait: ready` line, move the cursor or reverse the text.
//! - **Scrub at the sink.** Every credential kwait learns (bearer tokens, exec-plugin tokens,
//!   basic passwords, header values from `--header`/`--header-file`, URL passwords) is
//!   registered with [`add_secret`]; the reporter passes everything it writes through [`scrub`],
//!   so a server that echoes a token back cannot make kwait print it, at any verbosity.

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, taking the data of a poisoned one (a panic elsewhere must not cascade).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `c` must not reach a terminal as it is: control characters, and the format
/// characters that reorder or hide text (bidirectional overrides and isolates, zero-width
/// marks, the byte-order mark).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// One printable line of at most `max` characters (then `…`): runs of whitespace (line breaks
/// included) become one space, other control and bidi-formatting characters become `\u{..}`,
/// and the ends are trimmed.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0usize;
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        let piece: Cow<'_, str> = if is_hostile(c) {
            Cow::Owned(format!("\\u{{{:x}}}", c as u32))
        } else {
            let mut b = [0u8; 4];
            Cow::Owned(c.encode_utf8(&mut b).to_string())
        };
        let width = usize::from(space) + 1;
        if n + width > max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push_str(&piece);
        n += width;
    }
    out
}

/// [`printable`] without a length limit.
pub fn one_line(s: &str) -> String {
    printable(s, usize::MAX)
}

/// At most `max` characters of `s`, then `…` (no other change).
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// An error and everything under it: its sources, and the errors inside `io::Error`s (whose
/// `source()` skips the error they wrap).
pub fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        out.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    out
}

/// An error and its sources on one printable line, joined by ": ", without repeats. Only the
/// first line of each is kept: YAML errors append a source snippet that would leak file content.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in causes(e) {
        let full = err.to_string();
        let first = full.lines().next().unwrap_or("").trim();
        let s = one_line(first.strip_prefix("error: ").unwrap_or(first));
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// Credentials shorter than this are not scrubbed from free text (a two-letter password would
/// turn every such pair of letters into `***`); they are still redacted where they stand in
/// structure (URL userinfo, header values), and never printed by kwait itself.
pub const MIN_SCRUBBED: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a credential: from now on [`scrub`] replaces it with `***`. Empty and very short
/// values are ignored (see [`MIN_SCRUBBED`]).
pub fn add_secret(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SCRUBBED {
        return;
    }
    // As it stands, and as it stands inside a JSON string (a password with `"` or `\` is
    // escaped in `--log-format json` lines before they reach the sink).
    let escaped = json_escaped(secret);
    let mut all = lock(&SECRETS);
    for s in [secret.to_string(), escaped] {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    // Longest first, so that a token that contains another is replaced whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `s` as it reads between the quotes of a JSON string.
fn json_escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// `text` with every registered credential replaced by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let all = lock(&SECRETS);
    if !all.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    Cow::Owned(out)
}

/// Query parameters whose value is taken for a credential when a URL is shown
/// (`?api_key=…`, `&access_token=…`, `&X-Amz-Signature=…`): a name that contains one of these,
/// in any case.
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "auth",
    "credential",
];

/// Whether the query parameter `name` holds a credential (see [`CREDENTIAL_PARAMS`]).
pub fn is_credential_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_PARAMS.iter().any(|p| name.contains(p))
}

/// The values of the query parameters of `url` that hold credentials (for [`add_secret`]).
pub fn credential_params(url: &str) -> Vec<&str> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| is_credential_param(name) && !value.is_empty())
        .map(|(_, value)| value)
        .collect()
}

/// A URL (that may not parse) as it may be shown: the password of its userinfo and the values
/// of credential query parameters replaced by `***`:
/// `https://user:pw@host/p?api_key=k&x=1` → `https://user:***@host/p?api_key=***&x=1`.
pub fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{}", redact_query(tail))
}

/// The path, query and fragment with the values of credential parameters replaced by `***`.
fn redact_query(tail: &str) -> String {
    let Some((path, rest)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_credential_param(name) && !value.is_empty() => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    let mut out = format!("{path}?{}", query.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_folds_line_breaks_and_escapes_terminal_controls() {
        assert_eq!(printable("a\r\n  b\tc ", 100), "a b c");
        assert_eq!(
            printable("x\u{1b}[2Kkwait: ready\u{7}", 100),
            "x\\u{1b}[2Kkwait: ready\\u{7}"
        );
        assert_eq!(printable("abc\u{202e}fed", 100), "abc\\u{202e}fed");
        assert_eq!(printable("\u{9b}31m", 100), "\\u{9b}31m");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("  ", 3), "");
    }

    #[test]
    fn scrub_replaces_registered_credentials_longest_first() {
        add_secret("tok-1234");
        add_secret("tok-1234-longer");
        add_secret("ab");
        assert_eq!(
            scrub("Bearer tok-1234-longer and tok-1234, ab"),
            "Bearer *** and ***, ab"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
        add_secret("p\"w\\d-x");
        assert_eq!(scrub(r#"{"m":"p\"w\\d-x"}"#), r#"{"m":"***"}"#);
    }

    #[test]
    fn redact_url_hides_the_password_and_credential_query_values() {
        assert_eq!(
            redact_url("http://user:pw@host:1/p?q#f"),
            "http://user:***@host:1/p?q#f"
        );
        assert_eq!(redact_url("http://user@host/"), "http://user@host/");
        assert_eq!(redact_url("host:1"), "host:1");
        assert_eq!(
            redact_url("https://h/p?api_key=k-123&page=2&Access_Token=t#frag"),
            "https://h/p?api_key=***&page=2&Access_Token=***#frag"
        );
        assert_eq!(redact_url("https://h/p?key=&x"), "https://h/p?key=&x");
        assert_eq!(
            credential_params("https://h/?X-Amz-Signature=abc&id=1&token=t"),
            vec!["abc", "t"]
        );
    }

    #[test]
    fn chain_is_one_line_without_repeats() {
        let inner = std::io::Error::other("refused\nsecond line");
        let outer = std::io::Error::other(inner);
        assert_eq!(chain(&outer), "refused");
    }
}
