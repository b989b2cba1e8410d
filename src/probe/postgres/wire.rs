//! The few messages of PostgreSQL's frontend/backend protocol (version 3.0) that `wait-postgres`
//! needs: SSLRequest, the startup message, the authentication requests and password messages,
//! a simple query, ErrorResponse's fields, and Terminate. Every message read is bounded by
//! [`MAX_MESSAGE`].
//!
//! Reference: <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest message kwait reads. The startup exchange's messages are tens of bytes (an
/// ErrorResponse with its detail and hint a few hundred, `SELECT 1`'s answer about a hundred);
/// a longer one is not what a server says at this point, and is refused unread.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The SSLRequest code (1234 in the high 16 bits, 5679 in the low).
const SSL_REQUEST: u32 = 80_877_103;
/// Protocol version 3.0.
const PROTOCOL_3_0: u32 = 196_608;

/// What could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// A message longer than [`MAX_MESSAGE`].
    #[error("the server sent a message of {0} bytes, more than the {MAX_MESSAGE} kwait reads")]
    TooLarge(u64),
    /// A length below the 4 bytes of the length itself.
    #[error("the server sent a message with an invalid length ({0})")]
    BadLength(u32),
    /// A message type the exchange does not expect at this point: not PostgreSQL, or not
    /// PostgreSQL's protocol 3.
    #[error("the server sent {} where a PostgreSQL message was expected", shown_tag(*.0))]
    Unexpected(u8),
    /// A message whose content does not parse.
    #[error("the server sent a malformed {0} message")]
    Malformed(&'static str),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A tag as shown in an error: `'R'`, or `0x16` for a byte that is not a printable character.
fn shown_tag(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", tag as char)
    } else {
        format!("byte 0x{tag:02x}")
    }
}

/// One backend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The type byte (`R`, `E`, `Z`, ...).
    pub tag: u8,
    /// The content after the length.
    pub body: Vec<u8>,
}

/// Reads one message: a type byte, a length (counting itself), the content. A length over
/// [`MAX_MESSAGE`] is refused before anything more is read.
pub async fn read_message<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> Result<Message, WireError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).await.map_err(closed)?;
    let tag = head[0];
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len < 4 {
        return Err(WireError::BadLength(len));
    }
    let body_len = (len - 4) as usize;
    if body_len > MAX_MESSAGE {
        return Err(WireError::TooLarge(u64::from(len)));
    }
    let mut body = vec![0u8; body_len];
    r.read_exact(&mut body).await.map_err(closed)?;
    Ok(Message { tag, body })
}

/// End of stream in the middle of a message is the server closing the connection.
fn closed(e: io::Error) -> WireError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        WireError::Closed
    } else {
        WireError::Io(e)
    }
}

/// SSLRequest: the server answers one byte, `S` (go on with TLS) or `N` (no TLS).
pub fn ssl_request() -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&8u32.to_be_bytes());
    m[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    m
}

/// The startup message: protocol 3.0 and the parameters `user`, `database` and
/// `application_name` (so that `pg_stat_activity` names kwait).
pub fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (k, v) in [
        ("user", user),
        ("database", database),
        ("application_name", "kwait"),
    ] {
        cstring(&mut body, k.as_bytes());
        cstring(&mut body, v.as_bytes());
    }
    body.push(0);
    let mut m = len_prefix(body.len());
    m.extend_from_slice(&body);
    m
}

/// A `p` message (PasswordMessage, SASLInitialResponse and SASLResponse share the type).
fn password_type(body: &[u8]) -> Vec<u8> {
    tagged(b'p', body)
}

/// PasswordMessage: a cleartext or MD5-hashed password, NUL-terminated.
pub fn password(pw: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(pw.len() + 1);
    cstring(&mut body, pw);
    password_type(&body)
}

/// SASLInitialResponse: the mechanism's name and the client's first message.
pub fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    cstring(&mut body, mechanism.as_bytes());
    body.extend_from_slice(&(data.len() as u32).to_be_bytes());
    body.extend_from_slice(data);
    password_type(&body)
}

/// SASLResponse: the client's next message.
pub fn sasl_response(data: &[u8]) -> Vec<u8> {
    password_type(data)
}

/// Query: one SQL string (simple query protocol).
pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstring(&mut body, sql.as_bytes());
    tagged(b'Q', &body)
}

/// Terminate.
pub fn terminate() -> Vec<u8> {
    tagged(b'X', &[])
}

fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&len_prefix(body.len()));
    m.extend_from_slice(body);
    m
}

/// The 4-byte length of a message with `body_len` bytes of content (the length counts itself).
fn len_prefix(body_len: usize) -> Vec<u8> {
    ((body_len + 4) as u32).to_be_bytes().to_vec()
}

fn cstring(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

/// An authentication request (`R`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// AuthenticationOk: logged in.
    Ok,
    /// AuthenticationCleartextPassword.
    Cleartext,
    /// AuthenticationMD5Password, with its salt.
    Md5([u8; 4]),
    /// AuthenticationSASL, with the mechanisms offered.
    Sasl(Vec<String>),
    /// AuthenticationSASLContinue: the server's SCRAM message.
    SaslContinue(Vec<u8>),
    /// AuthenticationSASLFinal: the server's last SCRAM message.
    SaslFinal(Vec<u8>),
    /// Another method (Kerberos 2, SCM 6, GSS 7, SSPI 9, ...), which kwait does not speak.
    Other(u32),
}

impl Auth {
    /// The method's name, for messages.
    pub fn name(&self) -> String {
        match self {
            Auth::Ok => "no password".into(),
            Auth::Cleartext => "a clear-text password".into(),
            Auth::Md5(_) => "MD5 password".into(),
            Auth::Sasl(m) => format!("SASL ({})", m.join(", ")),
            Auth::SaslContinue(_) | Auth::SaslFinal(_) => "SASL".into(),
            Auth::Other(2) => "Kerberos V5".into(),
            Auth::Other(7) | Auth::Other(8) => "GSSAPI".into(),
            Auth::Other(9) => "SSPI".into(),
            Auth::Other(n) => format!("method {n}"),
        }
    }
}

/// Parses the content of an `R` message.
pub fn parse_auth(body: &[u8]) -> Result<Auth, WireError> {
    let bad = || WireError::Malformed("authentication request");
    let (code, rest) = body.split_first_chunk::<4>().ok_or_else(bad)?;
    Ok(match u32::from_be_bytes(*code) {
        0 => Auth::Ok,
        3 => Auth::Cleartext,
        5 => Auth::Md5(*rest.first_chunk::<4>().ok_or_else(bad)?),
        10 => {
            let mut mechanisms = Vec::new();
            for name in rest.split(|b| *b == 0) {
                if name.is_empty() {
                    break;
                }
                mechanisms.push(String::from_utf8_lossy(name).into_owned());
            }
            Auth::Sasl(mechanisms)
        }
        11 => Auth::SaslContinue(rest.to_vec()),
        12 => Auth::SaslFinal(rest.to_vec()),
        n => Auth::Other(n),
    })
}

/// The fields of an ErrorResponse (`E`) or NoticeResponse (`N`) that kwait shows. Raw server
/// text: escape it before printing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerError {
    /// `S`/`V`: ERROR, FATAL, PANIC.
    pub severity: String,
    /// `C`: the SQLSTATE, e.g. `57P03`.
    pub code: String,
    /// `M`: the primary message.
    pub message: String,
    /// `D`: the detail, when sent.
    pub detail: Option<String>,
    /// `H`: the hint, when sent.
    pub hint: Option<String>,
}

impl ServerError {
    /// Whether the SQLSTATE is a well-formed five-character code (libpq's PQping treats an
    /// error without one as "no response").
    pub fn has_sqlstate(&self) -> bool {
        self.code.len() == 5 && self.code.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

/// Parses the fields of an `E` or `N` message: pairs of a type byte and a NUL-terminated
/// string, ended by a NUL. Unknown fields are skipped; a message cut short keeps what it had.
pub fn parse_error(body: &[u8]) -> ServerError {
    let mut e = ServerError::default();
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        rest = tail.get(end + 1..).unwrap_or_default();
        match field {
            b'V' => e.severity = value,
            b'S' if e.severity.is_empty() => e.severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            b'H' => e.hint = Some(value),
            _ => {}
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_request_and_startup_are_the_bytes_libpq_sends() {
        assert_eq!(ssl_request(), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        let m = startup("app", "db");
        let mut want = vec![0u8, 0, 0, 0, 0, 3, 0, 0];
        want.extend_from_slice(b"user\0app\0database\0db\0application_name\0kwait\0\0");
        let len = want.len() as u32;
        want[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(m, want);
        assert_eq!(m.len(), 53);
    }

    #[test]
    fn frontend_messages_are_framed_with_their_length() {
        assert_eq!(query("SELECT 1"), b"Q\0\0\0\x0dSELECT 1\0");
        assert_eq!(terminate(), b"X\0\0\0\x04");
        // libpq's MD5 PasswordMessage: "md5" and 32 hex digits, NUL-terminated.
        let md5 = password(b"md5ffffffffffffffffffffffffffffffff");
        assert_eq!(&md5[..5], b"p\0\0\0\x28");
        assert_eq!(md5.last(), Some(&0));
        assert_eq!(
            sasl_initial("SCRAM-SHA-256", b"n,,n=,r=abc"),
            b"p\0\0\0\x21SCRAM-SHA-256\0\0\0\0\x0bn,,n=,r=abc"
        );
        assert_eq!(sasl_response(b"c=biws"), b"p\0\0\0\x0ac=biws");
    }

    /// Bytes as a PostgreSQL 15 server sends them (recorded with a SCRAM-configured server).
    #[test]
    fn authentication_requests_parse() {
        // R, length 23, code 10, "SCRAM-SHA-256\0\0".
        let sasl = b"\0\0\0\x0aSCRAM-SHA-256\0\0";
        assert_eq!(
            parse_auth(sasl).unwrap(),
            Auth::Sasl(vec!["SCRAM-SHA-256".into()])
        );
        let both = b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        assert_eq!(
            parse_auth(both).unwrap(),
            Auth::Sasl(vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()])
        );
        assert_eq!(parse_auth(b"\0\0\0\0").unwrap(), Auth::Ok);
        assert_eq!(parse_auth(b"\0\0\0\x03").unwrap(), Auth::Cleartext);
        assert_eq!(
            parse_auth(b"\0\0\0\x05\x01\x02\x03\x04").unwrap(),
            Auth::Md5([1, 2, 3, 4])
        );
        assert_eq!(
            parse_auth(b"\0\0\0\x0br=abc,s=xyz,i=4096").unwrap(),
            Auth::SaslContinue(b"r=abc,s=xyz,i=4096".to_vec())
        );
        assert_eq!(parse_auth(b"\0\0\0\x07").unwrap(), Auth::Other(7));
        assert!(matches!(
            parse_auth(b"\0\0\0\x05\x01"),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(parse_auth(b"\0\0"), Err(WireError::Malformed(_))));
    }

    #[test]
    fn error_responses_parse_with_their_sqlstate() {
        // A standby with hot_standby = off, as PostgreSQL 15 answers a startup message.
        let body = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is not accepting connections\0DHot standby mode is disabled.\0Fpostmaster.c\0L2431\0RProcessStartupPacket\0\0";
        let e = parse_error(body);
        assert_eq!(e.severity, "FATAL");
        assert_eq!(e.code, "57P03");
        assert!(e.has_sqlstate());
        assert_eq!(
            e.message,
            "the database system is not accepting connections"
        );
        assert_eq!(e.detail.as_deref(), Some("Hot standby mode is disabled."));
        assert_eq!(e.hint, None);
        // Cut short, or without a code: what was there is kept.
        let e = parse_error(b"SFATAL\0Mhalf");
        assert_eq!((e.message.as_str(), e.has_sqlstate()), ("half", false));
        assert_eq!(parse_error(b""), ServerError::default());
    }

    use crate::probe::test_runtime as rt;

    #[test]
    fn messages_are_read_whole_and_a_huge_length_is_refused_unread() {
        rt().block_on(async {
            let mut ok: &[u8] = b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I";
            let m = read_message(&mut ok).await.unwrap();
            assert_eq!((m.tag, m.body.as_slice()), (b'R', &b"\0\0\0\0"[..]));
            let m = read_message(&mut ok).await.unwrap();
            assert_eq!((m.tag, m.body.as_slice()), (b'Z', &b"I"[..]));
            assert!(matches!(
                read_message(&mut ok).await,
                Err(WireError::Closed)
            ));
            // "HTTP/1.1 400": 'H' and a length of 0x54545...: refused without reading on.
            let mut http: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\r\n";
            let e = read_message(&mut http).await.unwrap_err();
            assert!(matches!(e, WireError::TooLarge(1_414_811_695)), "{e}");
            assert_eq!(http.len(), 23, "nothing past the header was read");
            let mut short: &[u8] = b"E\0\0\0\x02";
            assert!(matches!(
                read_message(&mut short).await,
                Err(WireError::BadLength(2))
            ));
            let mut cut: &[u8] = b"E\0\0\0\x10SFA";
            assert!(matches!(
                read_message(&mut cut).await,
                Err(WireError::Closed)
            ));
        });
    }
}
