//! The `wait-tcp` probe.
