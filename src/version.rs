//! `kwait --version`, in a module of its own at the bottom of the layout: `cli.rs` names it in
//! `#[command(version)]` without reaching up into `main.rs`, and `xtask` (which compiles `cli.rs`
//! by path) gives its own `version` module for the man pages.

/// The crate version and the commit it was built from (`build.rs` records the commit).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KWAIT_COMMIT"), ")");
