//! The MySQL client/server protocol, as far as `wait-mysql` speaks it: packets (a 3-byte
//! length, a sequence id; every payload capped at [`MAX_PACKET`]), the server's greeting
//! (HandshakeV10), SSLRequest, HandshakeResponse41, OK/ERR, the two password scrambles, and
//! COM_INIT_DB / COM_PING / COM_QUIT.

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload read: a greeting, an OK or an ERR is well under 1 KiB; 64 KiB leaves
/// room for a long error message and refuses a 16 MiB packet announced by something else.
pub const MAX_PACKET: usize = 64 * 1024;

/// Capability flags (the protocol's `CLIENT_*`).
pub const CLIENT_LONG_PASSWORD: u32 = 0x1;
/// `CLIENT_PROTOCOL_41`: 4.1 packets (every server since 2004).
pub const CLIENT_PROTOCOL_41: u32 = 0x200;
/// `CLIENT_SSL`: the server offers TLS; the client asks for it with SSLRequest.
pub const CLIENT_SSL: u32 = 0x800;
/// `CLIENT_TRANSACTIONS`.
pub const CLIENT_TRANSACTIONS: u32 = 0x2000;
/// `CLIENT_SECURE_CONNECTION`: length-prefixed 20-byte scrambles.
pub const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
/// `CLIENT_PLUGIN_AUTH`: authentication plugins and auth switch requests.
pub const CLIENT_PLUGIN_AUTH: u32 = 0x80000;

/// Commands.
pub const COM_QUIT: u8 = 0x01;
/// `COM_INIT_DB`: switch to a database (ERR 1049 when it does not exist).
pub const COM_INIT_DB: u8 = 0x02;
/// `COM_PING`.
pub const COM_PING: u8 = 0x0e;

/// utf8mb4_general_ci: the collation announced in the handshake response.
const CHARSET: u8 = 45;

/// Why reading or understanding a packet failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// A packet longer than [`MAX_PACKET`].
    #[error("a packet of {0} bytes announced, more than the {MAX_PACKET} kwait reads")]
    TooLarge(usize),
    /// A packet that is not what the protocol says it is.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// One packet: its sequence id and payload.
#[derive(Debug)]
pub struct Packet {
    /// The sequence id.
    pub seq: u8,
    /// The payload.
    pub body: Vec<u8>,
}

/// Reads one packet.
pub async fn read_packet<S: AsyncRead + Unpin + ?Sized>(s: &mut S) -> Result<Packet, WireError> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(eof)?;
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    if len > MAX_PACKET {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.map_err(eof)?;
    Ok(Packet { seq: head[3], body })
}

fn eof(e: std::io::Error) -> WireError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        WireError::Closed
    } else {
        WireError::Io(e)
    }
}

/// Writes one packet (payloads here are far below the 16 MiB split).
pub async fn write_packet<S: AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    seq: u8,
    body: &[u8],
) -> Result<(), WireError> {
    let len = body.len().to_le_bytes();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&[len[0], len[1], len[2], seq]);
    out.extend_from_slice(body);
    s.write_all(&out).await?;
    s.flush().await?;
    Ok(())
}

/// An ERR packet: the error code, its SQLSTATE (when sent) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The error number (1045, 1049, ...).
    pub code: u16,
    /// The SQLSTATE (`28000`), empty when the server sent none (errors before the greeting).
    pub state: String,
    /// The server's message, as sent (escape before showing).
    pub message: String,
}

/// Parses an ERR packet's payload (`0xff` first).
pub fn parse_error(body: &[u8]) -> Result<ServerError, WireError> {
    let rest = body.get(1..).ok_or(WireError::Malformed("error packet"))?;
    let code = rest.get(..2).ok_or(WireError::Malformed("error packet"))?;
    let code = u16::from_le_bytes([code[0], code[1]]);
    let mut text = &rest[2..];
    let mut state = String::new();
    if text.first() == Some(&b'#') && text.len() >= 6 {
        state = String::from_utf8_lossy(&text[1..6]).into_owned();
        text = &text[6..];
    }
    Ok(ServerError {
        code,
        state,
        message: String::from_utf8_lossy(text).into_owned(),
    })
}

/// The server's greeting (HandshakeV10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// `10.11.6-MariaDB`, `8.4.3`.
    pub version: String,
    /// The server's capabilities.
    pub caps: u32,
    /// The 20-byte scramble (nonce).
    pub scramble: Vec<u8>,
    /// The authentication plugin the scramble is for (`mysql_native_password` when not said).
    pub plugin: String,
}

/// Splits `b` at its first NUL: (before, after).
fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = b.iter().position(|&c| c == 0)?;
    Some((&b[..at], &b[at + 1..]))
}

/// Parses the greeting's payload (protocol version 10 first).
pub fn parse_greeting(body: &[u8]) -> Result<Greeting, WireError> {
    let bad = || WireError::Malformed("greeting");
    if body.first() != Some(&10) {
        return Err(WireError::Malformed("greeting (not protocol version 10)"));
    }
    let (version, rest) = cstr(&body[1..]).ok_or_else(bad)?;
    // thread id (4), scramble part 1 (8), filler (1), capabilities low (2).
    let fixed = rest.get(..15).ok_or_else(bad)?;
    let mut scramble = fixed[4..12].to_vec();
    let mut caps = u32::from(u16::from_le_bytes([fixed[13], fixed[14]]));
    let rest = &rest[15..];
    let mut plugin = String::from("mysql_native_password");
    // charset (1), status (2), capabilities high (2), scramble length (1), reserved (10).
    if caps & CLIENT_PROTOCOL_41 == 0 || caps & CLIENT_SECURE_CONNECTION == 0 {
        return Err(WireError::Malformed(
            "greeting (a server older than MySQL 4.1)",
        ));
    }
    let more = rest.get(..16).ok_or_else(bad)?;
    caps |= u32::from(u16::from_le_bytes([more[3], more[4]])) << 16;
    let total = usize::from(more[5]);
    let rest = &rest[16..];
    let n = total.saturating_sub(8).max(13);
    let part = rest.get(..n).ok_or_else(bad)?;
    // 12 more bytes and a NUL: the scramble is 20 bytes.
    scramble.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
    if scramble.len() < 20 {
        return Err(bad());
    }
    if caps & CLIENT_PLUGIN_AUTH != 0 {
        let tail = &rest[n..];
        let name = cstr(tail).map_or(tail, |(name, _)| name);
        if !name.is_empty() {
            plugin = String::from_utf8_lossy(name).into_owned();
        }
    }
    Ok(Greeting {
        version: String::from_utf8_lossy(version).into_owned(),
        caps,
        scramble,
        plugin,
    })
}

/// The capabilities kwait asks for, given the server's (and whether TLS is wanted).
pub fn client_caps(server: u32, tls: bool) -> u32 {
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | (server & CLIENT_PLUGIN_AUTH);
    if tls {
        caps |= CLIENT_SSL;
    }
    caps
}

/// The fixed part shared by SSLRequest and HandshakeResponse41: capabilities, max packet
/// size, character set, 23 zero bytes.
fn fixed_head(caps: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&caps.to_le_bytes());
    b.extend_from_slice(&(16u32 << 20).to_le_bytes());
    b.push(CHARSET);
    b.extend_from_slice(&[0u8; 23]);
    b
}

/// SSLRequest: the start of a handshake response, after which TLS begins.
pub fn ssl_request(caps: u32) -> Vec<u8> {
    fixed_head(caps)
}

/// HandshakeResponse41 for `user` with `auth` (a scramble, at most 255 bytes) for `plugin`.
pub fn handshake_response(caps: u32, user: &str, auth: &[u8], plugin: &str) -> Vec<u8> {
    let mut b = fixed_head(caps);
    b.extend_from_slice(user.as_bytes());
    b.push(0);
    b.push(auth.len().min(255) as u8);
    b.extend_from_slice(&auth[..auth.len().min(255)]);
    if caps & CLIENT_PLUGIN_AUTH != 0 {
        b.extend_from_slice(plugin.as_bytes());
        b.push(0);
    }
    b
}

/// mysql_native_password: `SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))`.
pub fn native_scramble(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    let stage1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, password);
    let stage2 = digest(&SHA1_FOR_LEGACY_USE_ONLY, stage1.as_ref());
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(scramble);
    ctx.update(stage2.as_ref());
    xor(stage1.as_ref(), ctx.finish().as_ref())
}

/// caching_sha2_password's fast path: `SHA256(password) XOR SHA256(SHA256(SHA256(password)) +
/// scramble)`.
pub fn sha2_scramble(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    let stage1 = digest(&SHA256, password);
    let stage2 = digest(&SHA256, stage1.as_ref());
    let mut ctx = Context::new(&SHA256);
    ctx.update(stage2.as_ref());
    ctx.update(scramble);
    xor(stage1.as_ref(), ctx.finish().as_ref())
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The 20-byte nonce of an auth switch request's data (sent with a trailing NUL).
pub fn nonce(data: &[u8]) -> &[u8] {
    data.strip_suffix(&[0]).unwrap_or(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A mysql_native_password exchange captured from a real MySQL server (Boost.MySQL's test
    /// data, "snooped using Wireshark"): password `root`.
    #[test]
    fn native_password_scramble_matches_a_captured_exchange() {
        let scramble = hex("79643d121d7174475f483e3e0b620a033d273a4c");
        assert_eq!(
            native_scramble(b"root", &scramble),
            hex("f1b2fb1c8de75db8eba8126ad10fe9b11050d428")
        );
    }

    /// caching_sha2_password's fast path, against an exchange captured from a real MySQL 8
    /// server (Boost.MySQL's test data, "snooped using Wireshark"): password `hola`. MariaDB
    /// has no caching_sha2_password and MySQL 8 is not in Debian, so this and the formula of
    /// the MySQL documentation (XOR(SHA256(password), SHA256(SHA256(SHA256(password)),
    /// Nonce))) are what the method is tested against.
    #[test]
    fn caching_sha2_scramble_matches_a_captured_exchange() {
        let scramble = hex("3e3b04550470163a4c1535031576732246081801");
        assert_eq!(
            sha2_scramble(b"hola", &scramble),
            hex("a1c1e1e91bb6544ba7374b9c566d693e06ca070298acd10618c690389d88e120")
        );
    }

    #[test]
    fn a_mariadb_greeting_is_read_and_a_truncated_one_refused() {
        // MariaDB 10.11's greeting, as sent (scramble bytes replaced).
        let mut g = vec![10];
        g.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
        g.extend_from_slice(&[1, 0, 0, 0]);
        g.extend_from_slice(b"abcdefgh");
        g.push(0);
        g.extend_from_slice(&0xfffeu16.to_le_bytes());
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&0x81bfu16.to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0");
        g.extend_from_slice(b"mysql_native_password\0");
        let p = parse_greeting(&g).unwrap();
        assert_eq!(p.version, "5.5.5-10.11.6-MariaDB-0+deb12u1");
        assert_eq!(p.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(p.plugin, "mysql_native_password");
        assert!(p.caps & CLIENT_SSL != 0 && p.caps & CLIENT_PLUGIN_AUTH != 0);
        for cut in [1, 10, 40, 60, 70] {
            assert!(parse_greeting(&g[..cut]).is_err(), "{cut}");
        }
        assert!(parse_greeting(b"\x09old").is_err());
    }

    #[test]
    fn err_packets_keep_their_code_state_and_message() {
        let e = parse_error(b"\xff\x15\x04#28000Access denied for user 'app'@'x'").unwrap();
        assert_eq!((e.code, e.state.as_str()), (1045, "28000"));
        assert_eq!(e.message, "Access denied for user 'app'@'x'");
        // Before the greeting, no SQLSTATE: "Host is not allowed to connect".
        let e = parse_error(b"\xff\x6a\x04Host '10.0.0.9' is not allowed").unwrap();
        assert_eq!((e.code, e.state.as_str()), (1130, ""));
        assert!(parse_error(b"\xff\x01").is_err());
    }

    #[test]
    fn a_packet_over_the_cap_is_refused_before_it_is_read() {
        crate::probe::test_runtime().block_on(async {
            let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0];
            assert!(matches!(
                read_packet(&mut huge).await,
                Err(WireError::TooLarge(0xffffff))
            ));
            let mut cut: &[u8] = &[5, 0, 0, 0, b'a'];
            assert!(matches!(
                read_packet(&mut cut).await,
                Err(WireError::Closed)
            ));
        });
    }
}
