//! The `wait-job` probe.
