//! Label and field selectors.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed `labelSelector` (all requirements must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let rest = rest.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for term in split_top_level(s) {
            let t = term.trim();
            let bad = || format!("unable to parse requirement: {t:?}");
            let req = if let Some(k) = t.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                LabelReq::Ne(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = t.split_once("==") {
                LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = t.split_once('=') {
                LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, rest)) = t.split_once(" notin ") {
                LabelReq::NotIn(k.trim().to_string(), parse_set(rest).ok_or_else(bad)?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                LabelReq::In(k.trim().to_string(), parse_set(rest).ok_or_else(bad)?)
            } else {
                LabelReq::Exists(t.to_string())
            };
            let key = match &req {
                LabelReq::Eq(k, _)
                | LabelReq::Ne(k, _)
                | LabelReq::Exists(k)
                | LabelReq::NotExists(k)
                | LabelReq::In(k, _)
                | LabelReq::NotIn(k, _) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => get(k) != Some(v.as_str()),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        })
    }
}

/// A parsed `fieldSelector`: dotted field paths (`metadata.name`, `involvedObject.name`,
/// `reason`, ...) with `=`, `==` and `!=`, compared against the object's JSON string value
/// (a missing field compares as "").
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub(crate) fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for term in s.split(',') {
            let t = term.trim();
            let (field, eq, value) = if let Some((k, v)) = t.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid selector: '{t}'; can't understand '{t}'"));
            };
            let field = field.trim();
            let path_ok = !field.is_empty()
                && field.split('.').all(|seg| {
                    !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !path_ok {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// The name an equality requirement on `metadata.name` pins, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| *eq && f == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, value)| {
            let actual = field
                .split('.')
                .try_fold(obj, |v, seg| v.get(seg))
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == value) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn labels() {
        let o = obj(json!({"app": "web", "tier": "a"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("tier in (a, b)"));
        assert!(!m("tier notin (a,b)"));
        assert!(m("missing notin (a)"));
        assert!(m("app=web,tier in (a,b),!x"));
        assert!(!m("missing"));
        assert!(m(""));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn fields() {
        let o = obj(json!({}));
        let f = FieldSelector::parse("metadata.name=x,metadata.namespace==ns").unwrap();
        assert!(f.matches(&o));
        assert_eq!(f.name(), Some("x"));
        assert!(
            !FieldSelector::parse("metadata.name!=x")
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("spec..x=1").is_err());
        assert!(FieldSelector::parse("=1").is_err());
        assert!(FieldSelector::parse("spec/x=1").is_err());
    }

    #[test]
    fn fields_on_any_dotted_path_compare_the_string_value() {
        let ev = json!({
            "metadata": {"name": "e1", "namespace": "ns"},
            "involvedObject": {"kind": "Job", "name": "migrate", "namespace": "ns"},
            "reason": "FailedCreate",
            "count": 3
        });
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&ev);
        assert!(m("involvedObject.kind=Job,involvedObject.name=migrate,\
             involvedObject.namespace=ns,reason=FailedCreate"));
        assert!(m("reason==FailedCreate"));
        assert!(!m("reason=Scheduled"));
        assert!(!m("involvedObject.name=other"));
        assert!(m("involvedObject.name!=other"));
        // a missing field is "", a non-string value never equals a string
        assert!(m("involvedObject.uid="));
        assert!(!m("count=3"));
        assert!(m("spec.missing!=x"));
    }
}
