//! The `wait-http` probe.
