//! testkit: a fake Kubernetes API server on loopback for kwait's tests, demo and benchmark.
//! (being written; see testkit/README.md)

/// Real loopback HTTP/HTTPS servers for wait-http tests (owned by the wait-http work).
pub mod netserve;
