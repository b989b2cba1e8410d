//! `--password-file` of `wait-postgres`, `wait-redis`, `wait-nats` and `wait-rabbitmq` (and
//! `wait-nats --token-file`): read once, the same way for all.
//! The password comes from a file only (never argv), is registered with the reporter's scrubber
//! and is never printed.

use std::fmt;
use std::path::Path;

use super::PlanError;

/// The most of a `--password-file` that is read: a password is a few dozen bytes; a log file
/// or `/dev/zero` named by mistake ends at once with exit 2.
const PASSWORD_CAP: u64 = 4096;

/// A password read from a file. Its `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// The password's bytes, for the authentication exchange only.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A password for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(b: &[u8]) -> Password {
        Password(b.to_vec())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The password in `file`, if one is named: the whole file without its trailing line breaks (as
/// `echo` or an editor leaves them; a Kubernetes Secret mounted as a file has none). In a dry
/// run (`dry_run`), a file that does not exist here is not read (`--dry-run` notes it: the pod
/// may have it).
pub(super) fn read_password(
    file: Option<&Path>,
    dry_run: bool,
) -> Result<Option<Password>, PlanError> {
    read_secret_file(file, "--password-file", dry_run)
}

/// [`read_password`] for a secret named by another option (`arg`: `--token-file`).
pub(super) fn read_secret_file(
    file: Option<&Path>,
    arg: &'static str,
    dry_run: bool,
) -> Result<Option<Password>, PlanError> {
    let Some(path) = file else {
        return Ok(None);
    };
    if dry_run && !path.exists() {
        return Ok(None);
    }
    let mut data = crate::net::file::read_capped(path, PASSWORD_CAP, arg)?;
    while matches!(data.last(), Some(b'\n' | b'\r')) {
        data.pop();
    }
    let shown = || path.display().to_string();
    if data.is_empty() {
        return Err(PlanError::invalid(arg, shown(), "the file is empty"));
    }
    if data.contains(&0) {
        return Err(PlanError::invalid(arg, shown(), "it contains a NUL byte"));
    }
    crate::net::text::add_secret(&String::from_utf8_lossy(&data));
    Ok(Some(Password(data)))
}
