//! The built-in types that are not workloads: PersistentVolumeClaim (`Bound`),
//! PersistentVolume, Service (an ingress address for type LoadBalancer),
//! CustomResourceDefinition (`Established`, names accepted), PodDisruptionBudget and
//! APIService (`Available`).

use serde_json::Value;

use super::{Check, Class, MESSAGE_MAX, NAME_MAX, Obj, Observation, printable, str_at};

/// A claim is ready once `Bound`. A Pending claim of a `WaitForFirstConsumer` StorageClass
/// (when the caller could read it) waits for a pod to use it, which is said: waiting for the
/// claim alone would then wait for ever.
pub(super) fn pvc(o: &Obj<'_>, class: Option<&Value>) -> Check {
    let phase = o.str("/status/phase");
    match phase {
        "Bound" => {
            let volume = printable(o.str("/spec/volumeName"), NAME_MAX);
            return o.ready(format!("is Bound (volume {volume})"));
        }
        "Lost" => {
            return Check::Failed(
                Observation::new(Class::NotReady, "Lost (its volume is gone)")
                    .cause(format!(
                        "{} is Lost: the PersistentVolume it was bound to no longer exists, and a claim never leaves this phase by itself",
                        o.what()
                    ))
                    .fix(o.describe_cmd()),
            );
        }
        _ => {}
    }
    let node = o.str("/metadata/annotations/volume.kubernetes.io~1selected-node");
    let class_name = printable(o.str("/spec/storageClassName"), NAME_MAX);
    let first_consumer =
        class.is_some_and(|c| str_at(c, "/volumeBindingMode") == "WaitForFirstConsumer");
    let shown = if phase.is_empty() {
        "Pending".to_string()
    } else {
        printable(phase, 40)
    };
    if first_consumer && node.is_empty() {
        return Check::Pending(
            Observation::new(Class::NotReady, format!("{shown} (waiting for first consumer)"))
                .cause(format!(
                    "{}'s StorageClass {class_name} binds volumes only once a pod using the claim is scheduled (volumeBindingMode: WaitForFirstConsumer), and no pod was scheduled with it yet",
                    o.what()
                ))
                .fix("start the pod that mounts it (waiting for the claim before that pod exists waits for ever), or wait for that pod instead"),
        );
    }
    if !node.is_empty() {
        return o.pending(
            format!(
                "{shown} (provisioning for node {})",
                printable(node, NAME_MAX)
            ),
            format!(
                "{} is being provisioned by its StorageClass {class_name}'s provisioner",
                o.what()
            ),
        );
    }
    o.pending(
        shown,
        format!(
            "{} is not Bound yet: no PersistentVolume matches it, or its StorageClass {class_name}'s provisioner has not made one, or that class binds only once a pod that mounts the claim is scheduled (volumeBindingMode: WaitForFirstConsumer: then waiting for the claim before that pod exists waits for ever; events say which)",
            o.what()
        ),
    )
}

/// A volume is ready once `Available` or `Bound`.
pub(super) fn pv(o: &Obj<'_>) -> Check {
    match o.str("/status/phase") {
        p @ ("Available" | "Bound") => o.ready(format!("is {p}")),
        p => {
            let shown = if p.is_empty() {
                "no phase yet".to_string()
            } else {
                printable(p, 40)
            };
            let message = printable(o.str("/status/message"), MESSAGE_MAX);
            let cause = if message.is_empty() {
                format!("{} is {shown}", o.what())
            } else {
                format!("{} is {shown}: {message}", o.what())
            };
            o.pending(shown, cause)
        }
    }
}

/// A Service of type LoadBalancer is ready once its load balancer has an address; any other
/// Service once it exists (wait-service waits for its endpoints).
pub(super) fn service(o: &Obj<'_>) -> Check {
    if o.str("/spec/type") != "LoadBalancer" {
        return o.ready("exists");
    }
    let first =
        o.v.pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .map(|i| {
                let ip = str_at(i, "/ip");
                if ip.is_empty() {
                    str_at(i, "/hostname")
                } else {
                    ip
                }
            })
            .filter(|a| !a.is_empty());
    match first {
        Some(address) => o.ready(format!(
            "has load balancer address {}",
            printable(address, NAME_MAX)
        )),
        None => o.pending(
            "waiting for a load balancer address".to_string(),
            format!(
                "{} is of type LoadBalancer and status.loadBalancer.ingress is empty: the cloud controller (or MetalLB, ...) has not given it an address yet",
                o.what()
            ),
        ),
    }
}

/// A CustomResourceDefinition is ready once `Established`: objects of its type may then be
/// created. Names not accepted (another definition holds its plural, kind, short name or list
/// kind) fails at once, naming the conflict, as kstatus does: the API server never establishes
/// it while the conflict lasts, and nothing in this definition resolves it by waiting.
pub(super) fn crd(o: &Obj<'_>) -> Check {
    if let Some(c) = o.condition("NamesAccepted").filter(|c| c.status == "False") {
        return Check::Failed(
            Observation::new(
                Class::NotReady,
                format!("names not accepted: {}", c.line("NamesAccepted")),
            )
            .cause(format!(
                "{}'s names conflict with another definition's ({}): the API server does not serve its type while the conflict lasts, so kwait stops now instead of waiting for the deadline",
                o.what(),
                c.line("NamesAccepted")
            ))
            .fix("find the definition that holds the name: kubectl get crd -o custom-columns=NAME:.metadata.name,PLURAL:.spec.names.plural,KIND:.spec.names.kind,SHORT:.spec.names.shortNames")
            .fix("rename this definition's names, or remove the other definition (the API server then accepts them)")
            .fix(o.describe_cmd()),
        );
    }
    match o.condition("Established") {
        Some(c) if c.status == "True" => o.ready("is Established"),
        Some(c) => o.pending(
            c.line("Established"),
            format!(
                "{} is not established yet: {}",
                o.what(),
                c.line("Established")
            ),
        ),
        None => o.pending(
            "not established yet".to_string(),
            format!(
                "{} has no Established condition yet: the API server has not served its type",
                o.what()
            ),
        ),
    }
}

/// A PodDisruptionBudget is ready once its controller computed it (the generic rules saw its
/// `observedGeneration` current); its healthy counts are shown.
pub(super) fn pdb(o: &Obj<'_>) -> Check {
    if o.v.pointer("/status/observedGeneration").is_none() {
        return o.pending(
            "waiting for the controller's first status".to_string(),
            format!("{} has no status.observedGeneration yet: the disruption controller has not computed it", o.what()),
        );
    }
    o.ready(format!(
        "computed ({} of {} desired healthy, {} disruptions allowed)",
        o.int("/status/currentHealthy", 0),
        o.int("/status/desiredHealthy", 0),
        o.int("/status/disruptionsAllowed", 0)
    ))
}

/// An APIService is ready once `Available` (its backing service answers).
pub(super) fn apiservice(o: &Obj<'_>) -> Check {
    match o.condition("Available") {
        Some(c) if c.status == "True" => o
            .judged_behind(&c)
            .unwrap_or_else(|| o.ready("is Available")),
        Some(c) => o.pending(
            c.line("Available"),
            format!("{} reports {}", o.what(), c.line("Available")),
        ),
        None => o.pending(
            "no Available condition yet".to_string(),
            format!("{} has no Available condition yet", o.what()),
        ),
    }
}
