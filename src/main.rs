//! kwait: wait until a Kubernetes dependency is really ready, and say why when it is not.
//!
//! parse → plan → run → exit code.

mod cli;
mod duration;
mod exit;
mod plan;
mod probe;

/// `kwait --version`: the crate version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KWAIT_COMMIT"), ")");

fn main() {}
