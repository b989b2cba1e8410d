//! `wait-tcp --send S --expect REGEX`: once connected, send S (where given), then read the first
//! answer and match it. The answer is read until it matches, until [`ANSWER_CAP`] bytes, until
//! [`SILENCE`] passes without a byte once something came, until the server closes, or until the
//! attempt's deadline, whichever comes first: never more than 4 KiB, never past the deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::check::{Check, Class, Observation};
use crate::net::text::printable;

/// The most of the first answer that is read.
pub(crate) const ANSWER_CAP: usize = 4096;
/// Once the answer has begun, this long without a byte ends it.
pub(crate) const SILENCE: Duration = Duration::from_secs(1);
/// How much of an answer a state line shows.
const SHOWN: usize = 80;

/// How the reading ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Matched,
    Full,
    Closed,
    Silent,
    Deadline,
}

/// Sends `send`, reads the first answer from `stream` and judges it against `re`. `shown` is
/// the target (`nats:4222`), `via` the address that answered (` (10.0.0.7:4222)`, or empty).
pub(crate) async fn judge<S>(
    mut stream: S,
    shown: &str,
    via: &str,
    send: Option<&[u8]>,
    re: &regex_lite::Regex,
    attempt_timeout: Duration,
    deadline: tokio::time::Instant,
) -> Check
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let within = crate::duration::format(attempt_timeout);
    if let Some(bytes) = send {
        match tokio::time::timeout_at(deadline, stream.write_all(bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Check::Pending(
                    Observation::new(Class::Reset, "connection closed while sending")
                        .cause(format!(
                            "{shown}{via} accepted the connection, then sending --send failed ({e})"
                        ))
                        .fix("the server may be starting or refuse this protocol; check its logs"),
                );
            }
            Err(_) => {
                return Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!("{shown}{via} accepted the connection but did not take --send within {within}")),
                );
            }
        }
    }
    let mut answer: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut error = None;
    let end = loop {
        let text = String::from_utf8_lossy(&answer);
        if !answer.is_empty() && re.is_match(&text) {
            break End::Matched;
        }
        if answer.len() >= ANSWER_CAP {
            break End::Full;
        }
        // The first byte may take until the deadline; then silence ends the answer.
        let until = if answer.is_empty() {
            deadline
        } else {
            deadline.min(tokio::time::Instant::now() + SILENCE)
        };
        let room = (ANSWER_CAP - answer.len()).min(chunk.len());
        match tokio::time::timeout_at(until, stream.read(&mut chunk[..room])).await {
            Ok(Ok(0)) => break End::Closed,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => {
                error = Some(e);
                break End::Closed;
            }
            Err(_) if until < deadline => break End::Silent,
            Err(_) => break End::Deadline,
        }
    };
    let wanted = printable(&format!("'{}'", re.as_str()), SHOWN);
    let text = printable(&String::from_utf8_lossy(&answer), SHOWN);
    match end {
        End::Matched => Check::Ready(format!("TCP {shown} answered as --expect {wanted} asks{via}")),
        _ if answer.is_empty() => {
            let sent = if send.is_some() { " to --send" } else { "" };
            let (class, state, why) = match (end, error) {
                (End::Closed, Some(e)) => (Class::Reset, "connection reset without an answer", format!("reset the connection without answering{sent} ({e})")),
                (End::Closed, None) => (Class::Reset, "connection closed without an answer", format!("closed the connection without answering{sent}")),
                _ => (Class::Timeout, "no answer", format!("accepted the connection but sent nothing{sent} within {within}")),
            };
            Check::Pending(
                Observation::new(class, state)
                    .cause(format!("{shown}{via} {why}"))
                    .fix("check that this port serves the protocol --expect describes, and that the server is past its start-up"),
            )
        }
        _ => Check::Pending(
            Observation::new(Class::NotReady, format!("answered \"{text}\", not {wanted}"))
                .cause(format!(
                    "the first answer of {shown}{via} ({} bytes{}) does not match --expect {wanted}",
                    answer.len(),
                    match end {
                        End::Full => ", the most read",
                        End::Silent => ", then 1s of silence",
                        End::Closed => ", then the connection closed",
                        _ => "",
                    }
                ))
                .fix("the server may still be starting; or check --send and --expect against what it answers (e.g. with nc)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::probe::test_runtime as rt;

    /// The check, what the server received, and how long the check took.
    async fn run(
        server_says: &'static [u8],
        close: bool,
        send: Option<&'static [u8]>,
        re: &str,
    ) -> (Check, Vec<u8>, Duration) {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let re = regex_lite::Regex::new(re).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let srv = tokio::spawn(async move {
            let mut got = vec![0u8; 64];
            let mut n = 0;
            if send.is_some() {
                n = server.read(&mut got).await.unwrap();
            }
            server.write_all(server_says).await.unwrap();
            if close {
                drop(server);
            } else {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            got.truncate(n);
            got
        });
        let t = tokio::time::Instant::now();
        let c = judge(
            client,
            "nats:4222",
            "",
            send,
            &re,
            Duration::from_secs(5),
            deadline,
        )
        .await;
        let took = t.elapsed();
        (c, srv.await.unwrap(), took)
    }

    #[test]
    fn a_matching_banner_is_ready_without_waiting_for_silence() {
        rt().block_on(async {
            let (c, _, took) = run(b"INFO {\"server_id\":\"x\"}\r\n", false, None, "^INFO ").await;
            assert_eq!(
                c,
                Check::Ready("TCP nats:4222 answered as --expect '^INFO ' asks".into())
            );
            // The server keeps the connection open for 3 s: the match ended the read.
            assert!(took < Duration::from_secs(2), "{took:?}");
        });
    }

    #[test]
    fn the_send_text_is_sent_and_the_answer_judged() {
        rt().block_on(async {
            let (c, got, _) = run(b"+PONG\r\n", false, Some(b"PING\r\n"), "^\\+PONG").await;
            assert_eq!(got, b"PING\r\n");
            assert!(matches!(c, Check::Ready(_)), "{c:?}");
        });
    }

    #[test]
    fn garbage_is_not_ready_and_shown_escaped_and_cut() {
        rt().block_on(async {
            let (c, _, _) = run(b"-ERR \x1b[2Jkwait: ready\r\nmore", true, None, "^INFO ").await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(o.class, Class::NotReady);
            assert!(o.state.contains("\\u{1b}[2J"), "{}", o.state);
            assert!(
                !o.state.contains('\x1b') && !o.state.contains('\n'),
                "{}",
                o.state
            );
            assert!(o.cause.unwrap().contains("then the connection closed"));
        });
    }

    #[test]
    fn a_closed_connection_without_answer_is_a_reset() {
        rt().block_on(async {
            let (c, _, _) = run(b"", true, None, "^INFO ").await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Reset, "connection closed without an answer")
            );
        });
    }
}
