//! Loopback HTTP/HTTPS/TCP servers for wait-http and wait-tcp tests.
