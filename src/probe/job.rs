//! `wait-job (NAME | -l SELECTOR)`: ready when the Job completed; failed at once when it failed.

use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::Kube;
use crate::plan::{IfMissing, JobSelect};
use crate::rbac::Rule;

/// Waits for a Job (stub: being written).
#[derive(Debug)]
pub struct JobProbe {
    kube: Kube,
    select: JobSelect,
    all: bool,
    if_missing: IfMissing,
    rules: Vec<Rule>,
    role: String,
}

impl JobProbe {
    /// A probe for the Job(s) `select` finds in the client's namespace.
    pub fn new(
        kube: Kube,
        select: JobSelect,
        all: bool,
        if_missing: IfMissing,
        rules: Vec<Rule>,
        role: String,
    ) -> Self {
        JobProbe {
            kube,
            select,
            all,
            if_missing,
            rules,
            role,
        }
    }
}

impl Probe for JobProbe {
    fn describe(&self) -> String {
        format!(
            "Job {}/{:?} {} {:?} {} {}",
            self.kube.namespace,
            self.select,
            self.all,
            self.if_missing,
            self.rules.len(),
            self.role
        )
    }

    fn check(&mut self, _attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async {
            Check::Failed(Observation::new(Class::Other, "wait-job is not built yet"))
        })
    }
}
