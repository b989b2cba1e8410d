//! `wait-certificate NAME`: cert-manager Certificate Ready for its current generation, and its
//! Secret issued.

use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::Kube;
use crate::rbac::Rule;

/// Waits for a Certificate (stub: being written).
#[derive(Debug)]
pub struct CertificateProbe {
    kube: Kube,
    name: String,
    secret_name: Option<String>,
    check_secret: bool,
    rules: Vec<Rule>,
    role: String,
    backoff: (Duration, Duration),
}

impl CertificateProbe {
    /// A probe for Certificate `name` in the client's namespace; `backoff` = (interval,
    /// max_interval) for watches it starts on the Secret.
    pub fn new(
        kube: Kube,
        name: String,
        secret_name: Option<String>,
        check_secret: bool,
        rules: Vec<Rule>,
        role: String,
        backoff: (Duration, Duration),
    ) -> Self {
        CertificateProbe {
            kube,
            name,
            secret_name,
            check_secret,
            rules,
            role,
            backoff,
        }
    }
}

impl Probe for CertificateProbe {
    fn describe(&self) -> String {
        format!(
            "Certificate {}/{} {:?} {} {} {} {:?}",
            self.kube.namespace,
            self.name,
            self.secret_name,
            self.check_secret,
            self.rules.len(),
            self.role,
            self.backoff
        )
    }

    fn check(&mut self, _attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async {
            Check::Failed(Observation::new(
                Class::Other,
                "wait-certificate is not built yet",
            ))
        })
    }
}
