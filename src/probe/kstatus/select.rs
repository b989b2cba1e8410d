//! `wait-ready KIND -l SELECTOR [--any]`: the judgements of every matched object folded into
//! one. Without `--any` every object must be ready and at least one must exist; a failed one
//! fails the wait. With `--any` one ready object is enough, and the wait fails only when every
//! object failed (another may still become ready). The state names the first object holding
//! the wait, so it changes when that object's state does.

use serde_json::Value;

use super::{Check, Class, NAME_MAX, Observation, printable, str_at};

/// Folds `judge` over `objects` (the items of a LIST by `selector`, in the server's order; they
/// are sorted by name here so the line is stable). `kind` words the empty case (`Deployment`).
pub fn judge_selection(
    objects: &[Value],
    selector: &str,
    kind: &str,
    any: bool,
    judge: impl Fn(&Value) -> Check,
) -> Check {
    let selector = printable(selector, 200);
    if objects.is_empty() {
        return Check::Pending(
            Observation::new(Class::NotFound, format!("no {kind} matches {selector}"))
                .cause(format!(
                    "no {kind} with labels {selector} exists (yet) in the namespace; at least one must exist and be ready"
                ))
                .fix(format!("kubectl get {} -l '{selector}'", kind.to_ascii_lowercase())),
        );
    }
    let mut judged: Vec<(String, Check)> = objects
        .iter()
        .map(|o| (printable(str_at(o, "/metadata/name"), NAME_MAX), judge(o)))
        .collect();
    judged.sort_by(|a, b| a.0.cmp(&b.0));
    let total = judged.len();
    let ready: Vec<&(String, Check)> = judged
        .iter()
        .filter(|(_, c)| matches!(c, Check::Ready(_)))
        .collect();
    let failed: Vec<(&String, &Observation)> = judged
        .iter()
        .filter_map(|(n, c)| match c {
            Check::Failed(o) => Some((n, o)),
            _ => None,
        })
        .collect();
    let named = |name: &str, o: &Observation| {
        let mut o = o.clone();
        o.state = format!("{name}: {}", o.state);
        o
    };
    if any {
        if let Some((_, Check::Ready(text))) = ready.first() {
            return Check::Ready(format!(
                "{text} ({} of {total} matching {selector} ready)",
                ready.len()
            ));
        }
        if failed.len() == total
            && let Some((n, o)) = failed.first()
        {
            let mut o = named(n, o);
            o.state = format!("all {total} failed; {}", o.state);
            return Check::Failed(o);
        }
    } else {
        if let Some((n, o)) = failed.first() {
            return Check::Failed(named(n, o));
        }
        if ready.len() == total {
            return Check::Ready(format!("{kind} matching {selector}: all {total} ready"));
        }
    }
    let first_pending = judged.iter().find_map(|(n, c)| match c {
        Check::Pending(o) => Some((n, o)),
        _ => None,
    });
    match first_pending {
        Some((n, o)) => {
            let mut o = named(n, o);
            o.state = format!("{} of {total} ready; {}", ready.len(), o.state);
            Check::Pending(o)
        }
        // Every object either failed or is ready, with --any and none ready: not reachable by
        // the checks above, but worded rather than assumed.
        None => Check::Pending(Observation::new(
            Class::NotReady,
            format!("{} of {total} ready", ready.len()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::judge;
    use super::*;

    fn pod(name: &str, phase: &str, ready: bool) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "crs"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn every_matched_object_must_be_ready_and_one_must_exist() {
        let none = judge_selection(&[], "app=db", "Pod", false, judge);
        assert!(
            matches!(&none, Check::Pending(o) if o.class == Class::NotFound && o.state == "no Pod matches app=db")
        );
        let pods = [pod("db-1", "Running", false), pod("db-0", "Running", true)];
        match judge_selection(&pods, "app=db", "Pod", false, judge) {
            Check::Pending(o) => assert_eq!(o.state, "1 of 2 ready; db-1: running, not ready"),
            other => panic!("{other:?}"),
        }
        let pods = [pod("db-1", "Running", true), pod("db-0", "Running", true)];
        assert_eq!(
            judge_selection(&pods, "app=db", "Pod", false, judge),
            Check::Ready("Pod matching app=db: all 2 ready".into())
        );
    }

    #[test]
    fn any_is_satisfied_by_one_ready_object_and_fails_only_when_all_failed() {
        let pods = [pod("db-1", "Failed", false), pod("db-0", "Running", true)];
        assert!(
            matches!(judge_selection(&pods, "app=db", "Pod", true, judge), Check::Ready(t) if t.ends_with("(1 of 2 matching app=db ready)"))
        );
        assert!(
            matches!(judge_selection(&pods, "app=db", "Pod", false, judge), Check::Failed(o) if o.state.starts_with("db-1: failed"))
        );
        let pods = [pod("db-1", "Failed", false), pod("db-0", "Pending", false)];
        assert!(
            matches!(judge_selection(&pods, "app=db", "Pod", true, judge), Check::Pending(o) if o.state.starts_with("0 of 2 ready; db-0: "))
        );
        let pods = [pod("db-1", "Failed", false)];
        assert!(
            matches!(judge_selection(&pods, "app=db", "Pod", true, judge), Check::Failed(o) if o.state.starts_with("all 1 failed; db-1: failed"))
        );
    }
}
