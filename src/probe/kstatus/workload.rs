//! Deployment, StatefulSet, DaemonSet and ReplicaSet: rolled out when every desired replica
//! runs the current template and is available and ready, by kstatus' counts and conditions,
//! worded as `kubectl rollout status` words it. The generic rules ran first, so the status
//! observed the current generation where it says so.

use super::{Check, Class, NAME_MAX, Obj, Observation, printable};

/// A Deployment: `updated = available = ready = desired`, no old replica left, and the
/// controller's conditions agreeing ([`deployment_conditions`]); a rollout that exceeded
/// `spec.progressDeadlineSeconds` fails, naming its new ReplicaSet; scaled to 0 is ready once
/// no replica is left.
pub(super) fn deployment(o: &Obj<'_>) -> Check {
    if let Some(c) = o
        .condition("Progressing")
        .filter(|c| c.reason == "ProgressDeadlineExceeded")
    {
        let rs = quoted_after(c.message, "ReplicaSet \"").map(|r| printable(r, NAME_MAX));
        let deadline = o.int("/spec/progressDeadlineSeconds", 600);
        let state = match &rs {
            Some(rs) => format!("failed: progress deadline exceeded (ReplicaSet {rs})"),
            None => "failed: progress deadline exceeded".to_string(),
        };
        let mut obs = Observation::new(Class::NotReady, state)
            .cause(format!(
                "{}'s rollout made no progress for spec.progressDeadlineSeconds ({deadline}s): {}. As `kubectl rollout status`, kwait stops here: the new pods do not become available by themselves",
                o.what(),
                c.line("Progressing")
            ));
        if let Some(rs) = &rs {
            obs = obs.fix(format!(
                "see why its pods do not become ready: kubectl describe replicaset {rs}{}",
                o.ns_flag()
            ));
        }
        return Check::Failed(obs.fix(o.describe_cmd()).fix(format!(
            "go back to the previous version: kubectl rollout undo deployment/{}{}",
            printable(o.name, NAME_MAX),
            o.ns_flag()
        )));
    }
    let desired = o.int("/spec/replicas", 1);
    let replicas = o.int("/status/replicas", 0);
    let updated = o.int("/status/updatedReplicas", 0);
    let available = o.int("/status/availableReplicas", 0);
    let ready = o.int("/status/readyReplicas", 0);
    // In `kubectl rollout status`'s words and order, then kstatus's ready count.
    let waiting = if updated < desired {
        Some(format!(
            "{updated} out of {desired} new replicas have been updated"
        ))
    } else if replicas > updated {
        Some(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Some(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else if ready < desired {
        Some(format!("{ready} of {desired} replicas are ready"))
    } else {
        None
    };
    let paused =
        o.v.pointer("/spec/paused")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
    let Some(waiting) = waiting else {
        return deployment_conditions(o, paused).unwrap_or_else(|| {
            if desired == 0 {
                o.ready("scaled to 0 (no replica left)")
            } else {
                o.ready(format!(
                    "rolled out ({updated} of {desired} updated and available)"
                ))
            }
        });
    };
    let state = format!("waiting for rollout to finish: {waiting}");
    if paused {
        return Check::Pending(
            Observation::new(Class::NotReady, format!("paused: {state}"))
                .cause(format!(
                    "{} is paused (spec.paused: true): its controller does not roll out a changed template until it is resumed",
                    o.what()
                ))
                .fix(format!(
                    "resume it: kubectl rollout resume deployment/{}{}",
                    printable(o.name, NAME_MAX),
                    o.ns_flag()
                )),
        );
    }
    let progressing = o
        .condition("Progressing")
        .map(|c| format!("; {}", c.line("Progressing")))
        .unwrap_or_default();
    o.pending(
        state,
        format!(
            "{} has {updated} of {desired} replicas on the current template, {available} available, {ready} ready and {replicas} in all{progressing}",
            o.what()
        ),
    )
}

/// The counts say rolled out; the controller's conditions must agree (kstatus'
/// `deploymentConditions`): `Available=True`, and where the Deployment has a progress deadline
/// (`spec.progressDeadlineSeconds` set and not the "no deadline" 2147483647),
/// `Progressing=True` with reason `NewReplicaSetAvailable`, which the controller writes in the
/// same status update as the final counts. A paused Deployment's controller writes
/// `Progressing=Unknown (DeploymentPaused)` and judges no progress: its counts and `Available`
/// decide (its updated count is 0 when its template changed while paused). `None`: they agree.
fn deployment_conditions(o: &Obj<'_>, paused: bool) -> Option<Check> {
    let controller = |what: &str| {
        format!(
            "{}'s replica counts are complete but {what}: its controller has not finished judging the rollout",
            o.what()
        )
    };
    match o.condition("Available") {
        Some(c) if c.status == "True" => {}
        Some(c) => {
            return Some(o.pending(
                format!("not available: {}", c.line("Available")),
                controller(&format!("it reports {}", c.line("Available"))),
            ));
        }
        None => {
            return Some(o.pending(
                "waiting for the controller's Available condition".to_string(),
                controller("it has no Available condition"),
            ));
        }
    }
    let deadline =
        o.v.pointer("/spec/progressDeadlineSeconds")
            .and_then(serde_json::Value::as_i64)
            .filter(|&d| d != i64::from(i32::MAX));
    if deadline.is_none() || paused {
        return None;
    }
    match o.condition("Progressing") {
        Some(c) if c.status == "True" && c.reason == "NewReplicaSetAvailable" => None,
        Some(c) => Some(o.pending(
            format!(
                "waiting for Progressing=True (NewReplicaSetAvailable); now {}",
                c.line("Progressing")
            ),
            controller(&format!("it reports {}", c.line("Progressing"))),
        )),
        None => Some(o.pending(
            "waiting for the controller's Progressing condition".to_string(),
            controller("it has no Progressing condition"),
        )),
    }
}

/// A StatefulSet: every desired replica created and ready, and (RollingUpdate) updated and
/// counted at the update revision (`currentReplicas`), or past its partition. With `OnDelete`, pods change only when deleted: the
/// ready replicas are all that is waited for.
pub(super) fn statefulset(o: &Obj<'_>) -> Check {
    let desired = o.int("/spec/replicas", 1);
    let replicas = o.int("/status/replicas", 0);
    let ready = o.int("/status/readyReplicas", 0);
    let updated = o.int("/status/updatedReplicas", 0);
    let strategy = o.str("/spec/updateStrategy/type");
    let partition = o.int("/spec/updateStrategy/rollingUpdate/partition", 0);
    let counts = format!("{ready} of {desired} ready");
    let cause = |what: &str| {
        format!(
            "{} has {replicas} replicas of {desired} desired, {ready} ready, {updated} updated{what}",
            o.what()
        )
    };
    if replicas < desired || ready < desired {
        return o.pending(format!("{counts}; waiting for pods"), cause(""));
    }
    if replicas > desired {
        let extra = replicas - desired;
        return o.pending(
            format!(
                "{counts}; waiting for {extra} replica{} to terminate",
                plural(extra)
            ),
            cause(""),
        );
    }
    if strategy == "OnDelete" {
        return o.ready(format!(
            "has {counts} (updateStrategy OnDelete: pods take a new template only when deleted, so no rollout is awaited)"
        ));
    }
    if partition > 0 {
        let expected = (desired - partition).max(0);
        if updated < expected {
            return o.pending(
                format!("{updated} of {expected} updated (partition {partition}); waiting for the rollout"),
                cause(&format!(
                    "; with partition {partition} only ordinals {partition} and above take the new revision"
                )),
            );
        }
        return o.ready(format!(
            "partition rollout complete ({updated} updated; ordinals below {partition} keep the old revision)"
        ));
    }
    let current = o.str("/status/currentRevision");
    let update = o.str("/status/updateRevision");
    if current != update {
        return o.pending(
            format!(
                "{updated} of {desired} updated to revision {}; waiting for the rollout",
                printable(update, NAME_MAX)
            ),
            cause(&format!(
                "; current revision {}, update revision {}",
                printable(current, NAME_MAX),
                printable(update, NAME_MAX)
            )),
        );
    }
    // The revisions agree, yet not every replica is counted at them (kstatus' LessCurrent
    // and, for partition 0, its updated count): the controller has not finished.
    let at_current = o.int("/status/currentReplicas", 0);
    if at_current < desired || updated < desired {
        return o.pending(
            format!(
                "{} of {desired} at revision {}; waiting for the rollout",
                at_current.min(updated),
                printable(update, NAME_MAX)
            ),
            cause(&format!(
                "; {at_current} at the current revision {}",
                printable(current, NAME_MAX)
            )),
        );
    }
    o.ready(format!("rolled out ({counts})"))
}

/// A DaemonSet: `desired = scheduled = updated = available = ready` (updated not awaited with
/// `OnDelete`). Its controller always writes `status.observedGeneration`, so a status without
/// one is not read yet.
pub(super) fn daemonset(o: &Obj<'_>) -> Check {
    let no_observation = o.v.pointer("/status/observedGeneration").is_none();
    let Some(desired) =
        o.v.pointer("/status/desiredNumberScheduled")
            .and_then(serde_json::Value::as_i64)
            .filter(|_| !no_observation)
    else {
        return o.pending(
            "waiting for the controller's first status".to_string(),
            format!(
                "{} has no status.observedGeneration or desiredNumberScheduled yet: the DaemonSet controller has not reported on it",
                o.what()
            ),
        );
    };
    let updated = o.int("/status/updatedNumberScheduled", 0);
    let available = o.int("/status/numberAvailable", 0);
    let ready = o.int("/status/numberReady", 0);
    let scheduled = o.int("/status/currentNumberScheduled", 0);
    let on_delete = o.str("/spec/updateStrategy/type") == "OnDelete";
    // kstatus' order; kubectl rollout status' words where it has them.
    let waiting = if scheduled < desired {
        Some(format!("{scheduled} of {desired} pods are scheduled"))
    } else if !on_delete && updated < desired {
        Some(format!(
            "{updated} out of {desired} new pods have been updated"
        ))
    } else if available < desired {
        let which = if on_delete { "" } else { "updated " };
        Some(format!(
            "{available} of {desired} {which}pods are available"
        ))
    } else if ready < desired {
        Some(format!("{ready} of {desired} pods are ready"))
    } else {
        None
    };
    if let Some(waiting) = waiting {
        return o.pending(
            format!("waiting for rollout to finish: {waiting}"),
            format!(
                "{} should run on {desired} nodes: {scheduled} scheduled, {updated} on the current template, {available} available, {ready} ready",
                o.what()
            ),
        );
    }
    if desired == 0 {
        return o.ready("rolled out (no node to run on: 0 scheduled)");
    }
    o.ready(format!(
        "rolled out ({updated} of {desired} updated, {available} available)"
    ))
}

/// A ReplicaSet: every desired replica labelled, available and ready, no extra one; a
/// `ReplicaFailure` (quota, admission) is shown with its message.
pub(super) fn replicaset(o: &Obj<'_>) -> Check {
    let desired = o.int("/spec/replicas", 1);
    let replicas = o.int("/status/replicas", 0);
    let ready = o.int("/status/readyReplicas", 0);
    let available = o.int("/status/availableReplicas", 0);
    let labelled = o.int("/status/fullyLabeledReplicas", 0);
    let counts = format!("{ready} of {desired} ready, {available} available");
    let cause = format!(
        "{} has {replicas} replicas of {desired} desired, {ready} ready, {available} available",
        o.what()
    );
    if let Some(c) = o.condition("ReplicaFailure").filter(|c| c.status == "True") {
        return o.pending(
            format!("{counts}; {}", c.line("ReplicaFailure")),
            format!(
                "{cause}; its controller cannot create pods: {}",
                c.line("ReplicaFailure")
            ),
        );
    }
    if labelled < desired || available < desired || ready < desired {
        return o.pending(format!("{counts}; waiting for pods"), cause);
    }
    if replicas > desired {
        let extra = replicas - desired;
        return o.pending(
            format!(
                "{counts}; waiting for {extra} replica{} to terminate",
                plural(extra)
            ),
            cause,
        );
    }
    o.ready(format!("available ({counts})"))
}

/// The text between `marker` and the next `"`: `web-5d9c` in `ReplicaSet "web-5d9c" has
/// timed out progressing.`
fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    Some(&rest[..rest.find('"')?]).filter(|s| !s.is_empty())
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
