//! What one check saw: [`Check`] (ready, pending, failed), the [`Class`] of trouble, and the
//! [`Observation`] the report is made of. Shared by the probes, the API client (which classifies
//! its errors into a [`Class`]) and the waiter; it knows none of them.

use std::time::Duration;

/// What one check saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Ready; the text completes "ready after 1.2s: ..." (e.g. `Secret crs/x has key API_KEY`).
    Ready(String),
    /// Not ready yet, or a transient error: the waiter keeps trying until its deadline.
    Pending(Observation),
    /// Failed for good (a Job Failed): the waiter stops at once with exit code 1.
    Failed(Observation),
}

/// The class of an observation: decides the wording of the report, never whether to retry
/// (that is [`Check`]'s job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The dependency answered and is not ready yet (no key, condition False, HTTP 503, ...).
    NotReady,
    /// The object does not exist (yet).
    NotFound,
    /// The object existed and is gone (e.g. a Job removed by `ttlSecondsAfterFinished`).
    Gone,
    /// The API server does not serve this resource type (CRD not installed).
    NotServed,
    /// 403: the credentials are valid but not allowed.
    Forbidden,
    /// 401: the credentials were refused.
    Unauthorized,
    /// 5xx from the server.
    ServerError,
    /// 429 (with or without `Retry-After`).
    Throttled,
    /// Could not connect: refused, unreachable.
    Unreachable,
    /// The connection was reset or closed mid-answer.
    Reset,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// One attempt took longer than `--attempt-timeout`.
    Timeout,
    /// Anything else (an answer that could not be understood, ...).
    Other,
}

impl Class {
    /// Whether a check of this class heard from the server: anything but no answer at all
    /// (refused, reset, a name that did not resolve, a failed handshake, a timeout).
    pub fn is_answer(self) -> bool {
        !matches!(
            self,
            Class::Unreachable | Class::Reset | Class::Dns | Class::Tls | Class::Timeout
        )
    }
}

/// What a check saw when it was not ready: one line of state and, for the final report, why
/// and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Which kind of trouble this is.
    pub class: Class,
    /// One line, stable while nothing changes (the waiter prints a line when it changes), e.g.
    /// `not found` or `found, but key API_KEY is missing`. Never contains a secret value.
    pub state: String,
    /// Why, in one or two sentences, for the final report.
    pub cause: Option<String>,
    /// What to do, one line each (commands are fine), for the final report.
    pub fix: Vec<String>,
    /// The server asked us to wait at least this long before the next attempt (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Look again within this long even while a watch covers the object: the check also read
    /// something no watch covers (a stuck Job's pods), whose changes would otherwise go unseen
    /// until the watch is renewed.
    pub recheck: Option<Duration>,
}

impl Observation {
    /// An observation with only a class and a state line.
    pub fn new(class: Class, state: impl Into<String>) -> Self {
        Observation {
            class,
            state: state.into(),
            cause: None,
            fix: Vec::new(),
            retry_after: None,
            recheck: None,
        }
    }

    /// Adds the cause line.
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Adds one fix line.
    pub fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }
}
