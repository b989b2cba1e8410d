//! A Deployment's conditions as its controller writes them, for the testkit (tests/ready.rs)
//! and real API server (tests/real_rules.rs) replays of the same rules.

use serde_json::{Value, json};

/// One condition of a Deployment's status as the controller writes it.
pub fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": "2026-11-30T10:00:00Z", "lastTransitionTime": "2026-11-30T10:00:00Z"})
}

/// A Deployment's `Available` condition as the controller writes it.
pub fn available_condition(available: bool) -> Value {
    if available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    }
}

/// A Deployment's `Progressing` condition of `reason` about its new ReplicaSet `rs`, as the
/// controller writes it.
pub fn progressing(reason: &str, rs: &str) -> Value {
    let (status, says) = match reason {
        "NewReplicaSetAvailable" => ("True", "has successfully progressed."),
        "ProgressDeadlineExceeded" => ("False", "has timed out progressing."),
        _ => ("True", "is progressing."),
    };
    condition(
        "Progressing",
        status,
        reason,
        &format!("ReplicaSet \"{rs}\" {says}"),
    )
}

/// The conditions the Deployment controller writes with the final counts of a rollout.
pub fn rolled_out_conditions(rs: &str) -> Value {
    json!([
        available_condition(true),
        progressing("NewReplicaSetAvailable", rs)
    ])
}
