//! The rules every object follows (deleted, stale, Reconciling, Stalled), the `Ready` condition
//! of types kwait has no rule of its own for, and the explicit judgements (`--condition`,
//! `--json-path --equals`) that replace the kstatus rules when given.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{Check, Class, Obj, Observation, printable};
use crate::probe::http::{all_equal, budget, found_text};

/// The generic rules; `None` when none decides (the type's own rules come next).
pub(super) fn rules(o: &Obj<'_>) -> Option<Check> {
    let deleting = o.str("/metadata/deletionTimestamp");
    if !deleting.is_empty() {
        let finalizers: Vec<String> =
            o.v.pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|f| printable(f, 100))
                .collect();
        let held = if finalizers.is_empty() {
            String::new()
        } else {
            format!(
                "; its finalizers ({}) hold it until their controllers let it go",
                finalizers.join(", ")
            )
        };
        return Some(o.pending(
            "being deleted".to_string(),
            format!(
                "{} is being deleted (deletionTimestamp {}){held}: an object on its way out is not ready",
                o.what(),
                printable(deleting, 40)
            ),
        ));
    }
    if let Some(c) = stale(o) {
        return Some(c);
    }
    if let Some(c) = o.condition("Reconciling").filter(|c| c.status == "True") {
        return Some(o.pending(
            with_message("reconciling", c.message),
            format!(
                "{} reports {}: its controller is still working on it",
                o.what(),
                c.line("Reconciling")
            ),
        ));
    }
    if let Some(c) = o.condition("Stalled").filter(|c| c.status == "True") {
        // A Stalled of an older generation was the verdict on a spec since changed: the fix
        // may be that change, which the controller has not judged yet.
        if let Some(stale) = o.judged_behind(&c) {
            return Some(stale);
        }
        return Some(Check::Failed(
            Observation::new(Class::NotReady, with_message("stalled", c.message))
                .cause(format!(
                    "{} reports {}: its controller gave up and will not retry until the object changes, so kwait stops now instead of waiting for the deadline",
                    o.what(),
                    c.line("Stalled")
                ))
                .fix(o.describe_cmd())
                .fix("fix the cause named above and change the object (or have its controller reconcile it again, e.g. flux reconcile)"),
        ));
    }
    None
}

/// `status.observedGeneration` behind `metadata.generation`: the status describes an older spec.
pub(super) fn stale(o: &Obj<'_>) -> Option<Check> {
    let generation = o.generation()?;
    let observed = o.status_observed()?;
    (observed < generation).then(|| {
        o.pending(
            format!("waiting for the controller to observe generation {generation}"),
            format!(
                "{}'s status describes generation {observed} of its spec, and the spec is at generation {generation}: its controller has not caught up with the latest change yet (is it running?)",
                o.what()
            ),
        )
    })
}

/// `reconciling: the message` (escaped), or `reconciling`.
fn with_message(head: &str, message: &str) -> String {
    if message.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {}", printable(message, super::MESSAGE_MAX))
    }
}

/// A type kwait has no rule of its own for: its `Ready` condition, where it has one, must be
/// `True` and of the current generation. `builtin`: a Kubernetes type, which may have no
/// status at all (ConfigMap, Namespace, ...) and is then ready; a custom resource without any
/// status is waiting for its controller's first report.
pub(super) fn ready_condition(o: &Obj<'_>, builtin: bool) -> Check {
    if let Some(c) = o.condition("Ready") {
        return match (c.status, o.judged_behind(&c)) {
            ("True", Some(stale)) => stale,
            ("True", None) => o.ready(with_message("is Ready", c.message)),
            _ => o.pending(
                c.line("Ready"),
                format!("{} reports {}", o.what(), c.line("Ready")),
            ),
        };
    }
    let no_status =
        o.v.get("status")
            .and_then(Value::as_object)
            .is_none_or(serde_json::Map::is_empty);
    if no_status && !builtin {
        return o.pending(
            "no status yet".to_string(),
            format!(
                "{} has no status: its controller has not reported on it yet (is the controller installed and running?). If this type never gets a status, wait for something else with --condition or --json-path",
                o.what()
            ),
        );
    }
    o.ready("exists (no Ready condition to wait for)")
}

/// `--condition TYPE[=STATUS]`: the first condition whose type is `kind` (compared without
/// case, as `kubectl wait` does: `ready` finds `Ready`) has status `status` (also without case)
/// and judged the current generation (its own `observedGeneration`, else the status's). Never
/// a failure: any other status may still change before the deadline. The lines name the type
/// as the object spells it.
pub fn judge_condition(obj: &Value, kind: &str, status: &str) -> Check {
    let o = Obj::of(obj);
    let want = printable(status, 20);
    let Some(c) = o.condition_any_case(kind) else {
        let kind_shown = printable(kind, 100);
        return o.pending(
            format!("no {kind_shown} condition yet"),
            format!(
                "{} has no {kind_shown} condition in status.conditions (yet)",
                o.what()
            ),
        );
    };
    let kind_shown = printable(c.kind, 100);
    if !c.status.eq_ignore_ascii_case(status) {
        return o.pending(
            c.line(&kind_shown),
            format!(
                "{} reports {}; waiting for {kind_shown}={want}",
                o.what(),
                c.line(&kind_shown)
            ),
        );
    }
    if let Some((seen, g)) = o.behind(&c) {
        return o.pending(
            format!("{kind_shown} condition is of generation {seen}, waiting for generation {g}"),
            format!(
                "{} reports {} for generation {seen} of its spec, and the spec is at generation {g}",
                o.what(),
                c.line(&kind_shown)
            ),
        );
    }
    let asked = if c.kind == kind {
        String::new()
    } else {
        format!(
            " (--condition {}, compared without case)",
            printable(kind, 100)
        )
    };
    o.ready(format!(
        "has {kind_shown}={}{asked}",
        printable(c.status, 20)
    ))
}

/// `--json-path P [--equals V]`: every value `query` (the parsed form of `path`) selects in the
/// object equals `equals` (strings compare unquoted, other values as JSON; without `equals`,
/// the path must select something). The evaluation is bounded as wait-http's is: a query that
/// could visit more than its budget on this object is not run.
pub fn judge_json_path(obj: &Value, path: &str, query: &JsonPath, equals: Option<&str>) -> Check {
    let o = Obj::of(obj);
    let shown = printable(path, 200);
    let shape = budget::Shape::of(obj);
    let cost = budget::cost(path, &shape);
    if cost > budget::BUDGET {
        return Check::Pending(
            Observation::new(Class::Other, format!("JSONPath result too large: {shown}"))
                .cause(format!(
                    "evaluating {shown} on {} ({} values) could visit or select up to {:.0} values, over kwait's limit of {:.0}, so it was not run",
                    o.what(),
                    shape.nodes,
                    cost.min(1e18),
                    budget::BUDGET
                ))
                .fix("use a path without nested descendant segments (..), e.g. $.status.phase"),
        );
    }
    let located = query.query_located(obj);
    // A match in the status (or one holding it, `$`) is only as current as the status is.
    let reads_status = located.iter().any(|n| {
        n.location()
            .first()
            .is_none_or(|e| e.as_name() == Some("status"))
    });
    let nodes: Vec<&Value> = located.nodes().collect();
    if nodes.is_empty() {
        return o.pending(
            format!("{shown} matched nothing"),
            format!("{shown} selects nothing in {} (yet)", o.what()),
        );
    }
    let found = printable(&found_text(&nodes, &[]), super::MESSAGE_MAX);
    let stale = || reads_status.then(|| stale(&o)).flatten();
    match equals {
        None => stale().unwrap_or_else(|| o.ready(format!("has {shown} = {found}"))),
        Some(want) if all_equal(&nodes, want) => {
            stale().unwrap_or_else(|| o.ready(format!("has {shown} == {:?}", printable(want, 200))))
        }
        Some(want) => o.pending(
            format!("{shown} is {found}"),
            format!(
                "expected {shown} of {} to be {:?}, found {found}",
                o.what(),
                printable(want, 200)
            ),
        ),
    }
}
