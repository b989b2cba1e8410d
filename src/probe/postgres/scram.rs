//! The password exchanges of `wait-postgres`: SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash,
//! without channel binding, as PostgreSQL runs it) on ring's HMAC, PBKDF2 and SHA-256, and
//! PostgreSQL's MD5 password hash on a small MD5 of our own (ring has none; RFC 1321).
//!
//! The password is never put into anything but the bytes sent to the server. Its SASLprep
//! normalisation (RFC 4013) is not done: PostgreSQL uses a password as it is when it is not
//! valid UTF-8 or SASLprep refuses it, and SASLprep leaves printable ASCII unchanged, so only a
//! non-ASCII password that normalisation would change fails to log in.

use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

/// The most PBKDF2 iterations a server may ask for. PostgreSQL's default is 4096
/// (`scram_iterations`); the computation runs on the probe's thread, so a hostile server's
/// `i=4294967295` must not hold it for hours. 600,000 (OWASP's figure for PBKDF2-SHA256)
/// takes well under a second.
const MAX_ITERATIONS: u32 = 600_000;

/// The client's nonce length in random bytes (24 characters in base64).
const NONCE_BYTES: usize = 18;

/// What went wrong in a SCRAM exchange.
#[derive(Debug, thiserror::Error)]
pub enum ScramError {
    /// No random numbers for the nonce.
    #[error("no random numbers for the SCRAM nonce")]
    Random,
    /// The server's message does not parse.
    #[error("the server's SCRAM message is malformed ({0})")]
    Malformed(&'static str),
    /// The server's nonce does not extend ours.
    #[error("the server's SCRAM nonce does not start with kwait's")]
    Nonce,
    /// More PBKDF2 iterations than [`MAX_ITERATIONS`], or none.
    #[error("the server asks for {0} SCRAM iterations (kwait does 1 to {MAX_ITERATIONS})")]
    Iterations(u64),
    /// The server reported an error in its final message (`e=...`).
    #[error("the server ended the SCRAM exchange with an error ({0})")]
    Server(String),
    /// The server's signature is wrong: it does not know the password's verifier.
    #[error("the server's SCRAM signature is wrong: it does not hold this user's password")]
    Signature,
}

/// One SCRAM-SHA-256 exchange, client side.
#[derive(Debug)]
pub struct Scram {
    nonce: String,
    client_first_bare: String,
    /// After [`Scram::client_final`]: the ServerKey and the AuthMessage, to check the server's
    /// signature with.
    expect: Option<(hmac::Key, String)>,
}

impl Scram {
    /// An exchange with a fresh random nonce. The user name is left empty, as libpq does:
    /// PostgreSQL takes the user from the startup message.
    pub fn new() -> Result<Scram, ScramError> {
        let mut raw = [0u8; NONCE_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
            .map_err(|_| ScramError::Random)?;
        let nonce = base64::engine::general_purpose::STANDARD.encode(raw);
        Ok(Scram::with_nonce("", &nonce))
    }

    /// An exchange with this user name and nonce (tests use RFC 7677's).
    fn with_nonce(user: &str, nonce: &str) -> Scram {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Scram {
            nonce: nonce.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            expect: None,
        }
    }

    /// The client-first-message: no channel binding (`n,,`), then the bare message.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// The client-final-message answering the server-first-message, with the proof that we
    /// hold the password.
    pub fn client_final(
        &mut self,
        server_first: &[u8],
        password: &[u8],
    ) -> Result<String, ScramError> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err(ScramError::Malformed("a mandatory extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::Nonce);
        }
        let salt = base64::engine::general_purpose::STANDARD
            .decode(salt.ok_or(ScramError::Malformed("no salt"))?)
            .map_err(|_| ScramError::Malformed("the salt is not base64"))?;
        let iterations: u64 = iterations
            .ok_or(ScramError::Malformed("no iteration count"))?
            .parse()
            .map_err(|_| ScramError::Malformed("the iteration count is not a number"))?;
        let rounds = u32::try_from(iterations)
            .ok()
            .filter(|n| (1..=MAX_ITERATIONS).contains(n))
            .and_then(std::num::NonZeroU32::new)
            .ok_or(ScramError::Iterations(iterations))?;

        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            &salt,
            password,
            &mut salted,
        );
        let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        self.expect = Some((
            hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()),
            auth_message,
        ));
        Ok(format!(
            "{without_proof},p={}",
            base64::engine::general_purpose::STANDARD.encode(proof)
        ))
    }

    /// Checks the server-final-message's signature (in constant time): only a server that
    /// holds the user's verifier can make it.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text = String::from_utf8_lossy(server_final);
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::Server(crate::net::text::printable(e, 100)));
        }
        let v = text
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or(ScramError::Malformed("no signature"))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|_| ScramError::Malformed("the signature is not base64"))?;
        let (key, auth_message) = self
            .expect
            .as_ref()
            .ok_or(ScramError::Malformed("a final message before the proof"))?;
        hmac::verify(key, auth_message.as_bytes(), &signature).map_err(|_| ScramError::Signature)
    }
}

/// PostgreSQL's MD5 password message: `"md5" + hex(md5(hex(md5(password + user)) + salt))`.
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> Vec<u8> {
    let inner = hex(&md5(&[password, user].concat()));
    let outer = hex(&md5(&[inner.as_bytes(), &salt].concat()));
    format!("md5{outer}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 (RFC 1321). Only for PostgreSQL's MD5 password method, which needs nothing stronger
/// than the server does.
pub fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // K[i] = floor(abs(sin(i + 1)) * 2^32), as RFC 1321's table T.
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (w, c) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(K[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 16];
    for (o, s) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn scram_sha_256_matches_the_rfc_7677_exchange() {
        let mut s = Scram::with_nonce("user", NONCE);
        assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = s.client_final(SERVER_FIRST.as_bytes(), b"pencil").unwrap();
        assert_eq!(fin, CLIENT_FINAL);
        s.verify_server_final(SERVER_FINAL.as_bytes()).unwrap();
    }

    #[test]
    fn a_server_signature_that_is_off_by_one_bit_is_refused() {
        let mut s = Scram::with_nonce("user", NONCE);
        s.client_final(SERVER_FIRST.as_bytes(), b"pencil").unwrap();
        // The last signature byte 0x6e with its low bit flipped.
        let forged = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=";
        assert!(matches!(
            s.verify_server_final(forged.as_bytes()),
            Err(ScramError::Signature)
        ));
        // The right signature for another password is refused too.
        let mut other = Scram::with_nonce("user", NONCE);
        other
            .client_final(SERVER_FIRST.as_bytes(), b"pencil2")
            .unwrap();
        assert!(matches!(
            other.verify_server_final(SERVER_FINAL.as_bytes()),
            Err(ScramError::Signature)
        ));
        assert!(matches!(
            s.verify_server_final(b"e=invalid-proof"),
            Err(ScramError::Server(m)) if m == "invalid-proof"
        ));
    }

    #[test]
    fn hostile_server_first_messages_are_refused_before_any_work() {
        let mut s = Scram::with_nonce("", NONCE);
        type Want = fn(&ScramError) -> bool;
        let cases: [(&str, Want); 5] = [
            ("r=someoneelse,s=QUJD,i=4096", |e| {
                matches!(e, ScramError::Nonce)
            }),
            ("r=rOprNGfwEbeRWgbNEkqO,s=QUJD,i=4096", |e| {
                matches!(e, ScramError::Nonce)
            }),
            ("r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=4294967295", |e| {
                matches!(e, ScramError::Iterations(4_294_967_295))
            }),
            ("r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=0", |e| {
                matches!(e, ScramError::Iterations(0))
            }),
            ("m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=1", |e| {
                matches!(e, ScramError::Malformed(_))
            }),
        ];
        for (msg, want) in cases {
            let e = s.client_final(msg.as_bytes(), b"pw").unwrap_err();
            assert!(want(&e), "{msg}: {e}");
        }
        // No proof computed: a final message is refused.
        assert!(s.verify_server_final(SERVER_FINAL.as_bytes()).is_err());
    }

    #[test]
    fn fresh_nonces_are_random_and_printable() {
        let a = Scram::new().unwrap();
        let b = Scram::new().unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 24);
        assert!(a.client_first().starts_with("n,,n=,r="));
        assert!(!a.nonce.contains(','));
    }

    /// RFC 1321, appendix A.5.
    #[test]
    fn md5_matches_the_rfc_1321_test_suite() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&md5(input.as_bytes())), want, "{input:?}");
        }
    }

    #[test]
    fn md5_password_is_postgres_formula() {
        // Known answers computed independently (Python's hashlib): pg_authid holds
        // "md5" + md5("secretpostgres"); the message is md5 of that hex and the salt.
        assert_eq!(
            hex(&md5(b"secretpostgres")),
            "53f48b7c4b76a86ce72276c5755f217d"
        );
        assert_eq!(
            md5_password(b"postgres", b"secret", [1, 2, 3, 4]),
            b"md5bb41a296aab6baccb36ff243a562abff"
        );
    }
}
