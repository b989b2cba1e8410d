//! RESP2, the Redis wire format, as much of it as `wait-redis` needs: commands are sent as
//! arrays of bulk strings (so any byte of a password travels as it is, with no quoting), and
//! replies are parsed incrementally from a buffer with every size capped: a server (or
//! something that is not Redis) cannot make kwait allocate more than [`REPLY_CAP`] bytes.
//!
//! Reference: <https://redis.io/docs/latest/develop/reference/protocol-spec/> (RESP2: `+` simple
//! string, `-` error, `:` integer, `$` bulk string, `*` array; every line ends with CRLF).

/// The most bytes one reply may take, framing included. PING and AUTH answer in a few bytes;
/// an error text is a line.
pub const REPLY_CAP: usize = 64 * 1024;
/// The most elements an array reply may have.
const ARRAY_CAP: usize = 64;
/// The deepest nesting of arrays.
const DEPTH_CAP: usize = 4;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Simple(Vec<u8>),
    /// `-LOADING Redis is loading the dataset in memory`: the whole line, code first.
    Error(Vec<u8>),
    /// `:1`.
    Integer(i64),
    /// `$5\r\nhello`; `None` is the null bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`; `None` is the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The code of an error reply (`LOADING`, `NOAUTH`, `WRONGPASS`, ...): its first word.
    pub fn error_code(&self) -> Option<&[u8]> {
        match self {
            Reply::Error(line) => Some(line.split(|b| *b == b' ').next().unwrap_or(line)),
            _ => None,
        }
    }
}

/// What is wrong with bytes that were to be a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    /// The first byte is not a RESP2 type byte: not a Redis server (or one speaking TLS, or
    /// HTTP, ...).
    #[error("not a RESP reply (it starts with {0:?})")]
    NotResp(String),
    /// A length or an integer that does not parse, or a line without CRLF.
    #[error("malformed RESP reply ({0})")]
    Malformed(&'static str),
    /// Over [`REPLY_CAP`], [`ARRAY_CAP`] or [`DEPTH_CAP`].
    #[error("RESP reply too large ({0})")]
    TooLarge(&'static str),
}

/// Encodes a command as an array of bulk strings: `*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n`.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the start of `buf`: `Ok(Some((reply, used)))`, or `Ok(None)` when
/// `buf` holds only part of one (read more, up to [`REPLY_CAP`]).
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, RespError> {
    let window = &buf[..buf.len().min(REPLY_CAP)];
    match parse_at(window, 0, 0)? {
        Some(done) => Ok(Some(done)),
        None if buf.len() >= REPLY_CAP => Err(RespError::TooLarge("over 64 KiB")),
        None => Ok(None),
    }
}

/// The line starting at `at` (without its CRLF) and the offset after it.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = &buf[at..];
    match rest.iter().position(|b| *b == b'\n') {
        None => Ok(None),
        Some(i) if i > 0 && rest[i - 1] == b'\r' => Ok(Some((&rest[..i - 1], at + i + 1))),
        Some(_) => Err(RespError::Malformed("a line ends without CR LF")),
    }
}

fn number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .filter(|t| !t.is_empty() && !t.starts_with('+'))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(RespError::Malformed("a length or integer is not a number"))
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, RespError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        let start = &buf[at..buf.len().min(at + 16)];
        return Err(RespError::NotResp(
            String::from_utf8_lossy(start).into_owned(),
        ));
    }
    let Some((head, next)) = line(buf, at + 1)? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        b'+' => (Reply::Simple(head.to_vec()), next),
        b'-' => (Reply::Error(head.to_vec()), next),
        b':' => (Reply::Integer(number(head)?), next),
        b'$' => match number(head)? {
            -1 => (Reply::Bulk(None), next),
            n if n < 0 => return Err(RespError::Malformed("a negative bulk length")),
            n if n as u64 > REPLY_CAP as u64 => {
                return Err(RespError::TooLarge("a bulk string over 64 KiB"));
            }
            n => {
                let end = next + n as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(RespError::Malformed("a bulk string without its CR LF"));
                }
                (Reply::Bulk(Some(buf[next..end].to_vec())), end + 2)
            }
        },
        _ => match number(head)? {
            -1 => (Reply::Array(None), next),
            n if n < 0 => return Err(RespError::Malformed("a negative array length")),
            n if n as u64 > ARRAY_CAP as u64 => {
                return Err(RespError::TooLarge("an array of more than 64 elements"));
            }
            _ if depth >= DEPTH_CAP => {
                return Err(RespError::TooLarge("arrays nested more than 4 deep"));
            }
            n => {
                let mut items = Vec::with_capacity(n as usize);
                let mut pos = next;
                for _ in 0..n {
                    match parse_at(buf, pos, depth + 1)? {
                        Some((item, after)) => {
                            items.push(item);
                            pos = after;
                        }
                        None => return Ok(None),
                    }
                }
                (Reply::Array(Some(items)), pos)
            }
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Reply {
        let (r, used) = parse(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "{bytes:?}");
        r
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings_so_any_password_byte_is_safe() {
        assert_eq!(command(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            command(&[b"AUTH", b"app", b"p w\r\n*\x00"]),
            b"*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$7\r\np w\r\n*\x00\r\n"
        );
    }

    /// The bytes redis-server 7.0.15 sent on one socket (captured with bash's /dev/tcp and
    /// `od -c`) for `PING` (no AUTH yet), `AUTH wrong`, `AUTH app apppw`, `PING`, `GET x` (a user
    /// with +ping only), pipelined; and the LOADING line redis-cli showed during a load.
    #[test]
    fn a_recorded_session_parses_reply_by_reply() {
        let wire: &[u8] = b"-NOAUTH Authentication required.\r\n\
-WRONGPASS invalid username-password pair or user is disabled.\r\n\
+OK\r\n+PONG\r\n\
-NOPERM this user has no permissions to run the 'get' command\r\n";
        let mut codes = Vec::new();
        let mut at = 0;
        while let Some((reply, n)) = parse(&wire[at..]).unwrap() {
            codes.push(match &reply {
                Reply::Error(_) => {
                    String::from_utf8_lossy(reply.error_code().unwrap()).into_owned()
                }
                Reply::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
                other => format!("{other:?}"),
            });
            at += n;
        }
        assert_eq!(at, wire.len());
        assert_eq!(codes, ["NOAUTH", "WRONGPASS", "+OK", "+PONG", "NOPERM"]);
    }

    #[test]
    fn replies_of_every_type_parse() {
        assert_eq!(one(b"+PONG\r\n"), Reply::Simple(b"PONG".to_vec()));
        assert_eq!(one(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        let loading = one(b"-LOADING Redis is loading the dataset in memory\r\n");
        assert_eq!(loading.error_code(), Some(&b"LOADING"[..]));
        let noauth = one(b"-NOAUTH Authentication required.\r\n");
        assert_eq!(noauth.error_code(), Some(&b"NOAUTH"[..]));
        let wrong = one(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        assert_eq!(wrong.error_code(), Some(&b"WRONGPASS"[..]));
        assert_eq!(one(b":1000\r\n"), Reply::Integer(1000));
        assert_eq!(one(b":-3\r\n"), Reply::Integer(-3));
        assert_eq!(
            one(b"$5\r\nhello\r\n"),
            Reply::Bulk(Some(b"hello".to_vec()))
        );
        assert_eq!(one(b"$0\r\n\r\n"), Reply::Bulk(Some(Vec::new())));
        assert_eq!(one(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(one(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(
            one(b"*2\r\n$4\r\nPONG\r\n:7\r\n"),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"PONG".to_vec())),
                Reply::Integer(7)
            ]))
        );
        // A bulk string may hold CR LF itself.
        assert_eq!(
            one(b"$4\r\na\r\nb\r\n"),
            Reply::Bulk(Some(b"a\r\nb".to_vec()))
        );
    }

    #[test]
    fn partial_replies_ask_for_more_and_two_pipelined_replies_parse_one_at_a_time() {
        for partial in [
            &b""[..],
            b"+PON",
            b"+PONG\r",
            b"$5\r\nhel",
            b"$5\r\nhello\r",
            b"*2\r\n:1\r\n",
        ] {
            assert_eq!(parse(partial).unwrap(), None, "{partial:?}");
        }
        let both = b"+OK\r\n+PONG\r\n";
        let (first, used) = parse(both).unwrap().unwrap();
        assert_eq!((first, used), (Reply::Simple(b"OK".to_vec()), 5));
        assert_eq!(one(&both[used..]), Reply::Simple(b"PONG".to_vec()));
    }

    #[test]
    fn what_is_not_resp_is_named() {
        assert_eq!(
            parse(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(RespError::NotResp("HTTP/1.1 400 Bad".into()))
        );
        // A TLS alert (a TLS server spoken to in clear).
        assert!(matches!(
            parse(b"\x15\x03\x01\x00\x02\x02\x46"),
            Err(RespError::NotResp(_))
        ));
        for bad in [
            &b"+PONG\n"[..],
            b":x\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
            b"$+3\r\nabc\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(RespError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes_are_capped() {
        assert_eq!(
            parse(b"$99999999999\r\n"),
            Err(RespError::TooLarge("a bulk string over 64 KiB"))
        );
        assert!(matches!(parse(b"*65\r\n"), Err(RespError::TooLarge(_))));
        assert!(matches!(
            parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
            Err(RespError::TooLarge(_))
        ));
        // An endless line (no CR LF in 64 KiB) is refused, not buffered for ever.
        let mut long = b"+".to_vec();
        long.resize(REPLY_CAP, b'a');
        assert!(matches!(parse(&long), Err(RespError::TooLarge(_))));
        long.truncate(REPLY_CAP - 1);
        assert_eq!(parse(&long), Ok(None));
    }
}
