//! The `wait-certificate` probe.
