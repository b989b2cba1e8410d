//! Writing events.k8s.io/v1 Events: the only requests kwait makes that change anything. The
//! recorder (`src/events.rs`) decides what to write and when; this is the HTTP side only, with
//! every failure classified as a read's is. An Event is plain JSON here: the API client knows
//! no probe type and no Event type beyond its path.

use kube::core::Request;
use kube::core::params::{Patch, PatchParams, PostParams};
use serde_json::Value;

use super::{ApiError, Kube, Resource, other};

/// events.k8s.io/v1 events: what `kubectl describe` lists under the object they regard.
pub const EVENTS_V1: Resource = Resource {
    group: "events.k8s.io",
    version: "v1",
    plural: "events",
    kind: "Event",
};

/// The most kwait reads of the answer to a write: the Event it wrote comes back (about 1 KiB
/// with a 1 KiB note); kwait does not use it, so the rest is left unread.
const WRITE_LIMIT: usize = 64 << 10;

impl Kube {
    /// POST `event` (an events.k8s.io/v1 Event with its `metadata.name`) in this client's
    /// namespace.
    pub async fn create_event(&self, event: &Value) -> Result<(), ApiError> {
        let body = serde_json::to_vec(event).map_err(|e| other(e.to_string()))?;
        let req = Request::new(EVENTS_V1.path(&self.namespace))
            .create(&PostParams::default(), body)
            .map_err(|e| other(e.to_string()))?;
        self.write(&req, "POST events.events.k8s.io").await
    }

    /// PATCH (JSON merge patch) the Event `name` in this client's namespace with `patch`.
    pub async fn patch_event(&self, name: &str, patch: &Value) -> Result<(), ApiError> {
        let req = Request::new(EVENTS_V1.path(&self.namespace))
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .map_err(|e| other(e.to_string()))?;
        self.write(&req, &format!("PATCH events.events.k8s.io/{name}"))
            .await
    }

    async fn write(&self, req: &http::Request<Vec<u8>>, asked: &str) -> Result<(), ApiError> {
        self.conn.send(req, asked, WRITE_LIMIT).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_written_under_the_events_api_group() {
        assert_eq!(
            EVENTS_V1.path("crs"),
            "/apis/events.k8s.io/v1/namespaces/crs/events"
        );
        assert_eq!(EVENTS_V1.qualified(), "events.events.k8s.io");
    }
}
