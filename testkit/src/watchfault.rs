//! Hostile watch answers: streams a real API server never sends, or sends only when something
//! between it and the client misbehaves, for kwait's hardening tests. Set with
//! [`ApiServer::set_watch_fault`](crate::ApiServer::set_watch_fault); it applies to every watch
//! opened while it is set. (A watch answered 429 with `Retry-After` needs no mode here:
//! `Fault::status(429).verb("watch").retry_after(n)`.)

use crate::server::Shared;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How every watch opened from now on misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchFault {
    /// Answers 200, then sends bytes that never contain a newline, as fast as the client reads
    /// (64 KiB chunks), until the client hangs up or the server stops.
    NoNewline,
    /// Ignores `fieldSelector`: a watch on one name gets the events of every object of the type
    /// (a broken proxy or an aggregated API server that does not filter).
    IgnoreFieldSelector,
    /// Answers 200, then one byte every 200 ms that never ends a line: alive at the TCP level,
    /// dead as a watch (a slow-loris stream).
    Trickle,
    /// Answers 200 and then sends nothing at all, neither events nor bookmarks: a half-open
    /// connection after a load-balancer failover.
    Silent,
}

/// The streaming side of a hostile watch that is not a filtered ordinary stream: feeds `tx`
/// until the client hangs up or the server stops. Counts as an open watch meanwhile.
pub(crate) fn feed(shared: &Arc<Shared>, fault: WatchFault, tx: mpsc::Sender<Bytes>) {
    let shared = shared.clone();
    let mut stop = shared.stop.subscribe();
    let mut close = shared.close_watches.subscribe();
    shared.lock().open_watches += 1;
    tokio::spawn(async move {
        let junk = Bytes::from(vec![b'x'; 64 * 1024]);
        // `{"type":"ADDED","object":` and then an object that never ends.
        let opening =
            Bytes::from_static(b"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"");
        let mut first = true;
        loop {
            let send = async {
                match fault {
                    WatchFault::NoNewline => {
                        let chunk = if first { opening.clone() } else { junk.clone() };
                        tx.send(chunk).await.is_ok()
                    }
                    WatchFault::Trickle => {
                        if !first {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        let chunk = if first {
                            opening.clone()
                        } else {
                            Bytes::from_static(b"x")
                        };
                        tx.send(chunk).await.is_ok()
                    }
                    _ => {
                        tx.closed().await;
                        false
                    }
                }
            };
            let more = tokio::select! {
                ok = send => ok,
                _ = stop.changed() => false,
                _ = close.changed() => false,
            };
            first = false;
            if !more {
                break;
            }
            // Let other tasks (the counters, the test's own requests) run between chunks.
            tokio::task::yield_now().await;
        }
        shared.lock().open_watches -= 1;
    });
}
