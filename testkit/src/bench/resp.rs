//! A loopback stand-in for a Redis server that is loading its dataset: every command gets
//! `-LOADING ...` until [`RespServer::set_ready`], then `PING` gets `+PONG`. It counts
//! connections (each check of kwait and each `redis-cli ping` of a loop opens one), which is
//! what the idle window counts. One thread per connection; connections end when the client
//! closes them or the server is dropped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct RespServer {
    port: u16,
    ready: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RespServer {
    pub fn start() -> RespServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bench: bind the RESP server");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("address").port();
        let ready = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, st) = (ready.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                };
                h.fetch_add(1, Ordering::Relaxed);
                let (r, st) = (r.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buf = [0u8; 4096];
                    while !st.load(Ordering::Relaxed) {
                        match s.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => {
                                // One reply per command: each RESP array starts with '*'.
                                let commands =
                                    buf[..n].iter().filter(|b| **b == b'*').count().max(1);
                                let ping =
                                    buf[..n].windows(4).any(|w| w.eq_ignore_ascii_case(b"PING"));
                                for _ in 0..commands {
                                    let reply: &[u8] = if !r.load(Ordering::Relaxed) {
                                        b"-LOADING Redis is loading the dataset in memory\r\n"
                                    } else if ping {
                                        b"+PONG\r\n"
                                    } else {
                                        b"+OK\r\n"
                                    };
                                    if s.write_all(reply).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => return,
                        }
                    }
                });
            }
        });
        RespServer {
            port,
            ready,
            hits,
            stop,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

impl Drop for RespServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
