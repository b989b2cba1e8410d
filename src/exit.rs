//! Exit codes: the one place they are defined. README's table mirrors this.

/// The dependency is ready.
pub const READY: u8 = 0;
/// The dependency failed for good (a Job Failed, `--if-missing fail`): waiting longer cannot help.
pub const FAILED: u8 = 1;
/// Bad usage or configuration: a bad argument, an unreadable kubeconfig, an unknown context.
pub const USAGE: u8 = 2;
/// The deadline (`--timeout`) passed before the dependency was ready.
pub const TIMED_OUT: u8 = 124;
/// Interrupted by SIGINT (128 + 2).
pub const SIGINT: u8 = 130;
/// Terminated by SIGTERM (128 + 15), e.g. the pod is being deleted.
pub const SIGTERM: u8 = 143;

/// The exit code for how a run ended.
pub fn of(ending: &crate::report::Ending) -> u8 {
    use crate::report::Ending;
    match ending {
        Ending::Ready(_) => READY,
        Ending::Failed | Ending::Cancelled => FAILED,
        Ending::TimedOut => TIMED_OUT,
        Ending::Interrupted(2) => SIGINT,
        Ending::Interrupted(_) => SIGTERM,
    }
}
