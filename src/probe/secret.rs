//! The `wait-secret` probe.
