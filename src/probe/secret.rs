//! `wait-secret NAME [--key KEY]...` and `wait-configmap NAME [--key KEY]...`: ready when the
//! object exists and each key is present with a non-empty value. Only key names ever leave this
//! file; values (a ConfigMap's too: they often hold connection strings and passwords) are
//! looked at for emptiness and nothing else.

use std::time::Duration;

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::{CONFIGMAPS, Kube, Resource};
use crate::net::text::printable;
use crate::rbac::Rule;

/// How many of a Secret's key names a report lists.
const MAX_LISTED_KEYS: usize = 20;
/// Bound on one key name in a report (a valid key has at most 253 characters).
const KEY_MAX: usize = 253;

/// Waits for a Secret or a ConfigMap and its keys.
#[derive(Debug)]
pub struct SecretProbe {
    kube: Kube,
    /// `SECRETS` or [`CONFIGMAPS`].
    res: &'static Resource,
    name: String,
    keys: Vec<String>,
    rules: Vec<Rule>,
    role: String,
}

impl SecretProbe {
    /// A probe for the Secret (or, with `res` = [`CONFIGMAPS`], the ConfigMap) `name` in the
    /// client's namespace.
    pub fn new(
        kube: Kube,
        res: &'static Resource,
        name: String,
        keys: Vec<String>,
        rules: Vec<Rule>,
        role: String,
    ) -> Self {
        SecretProbe {
            kube,
            res,
            name,
            keys,
            rules,
            role,
        }
    }

    fn object(&self) -> String {
        format!("{} {}/{}", self.res.kind, self.kube.namespace, self.name)
    }
}

impl Probe for SecretProbe {
    fn describe(&self) -> String {
        if self.keys.is_empty() {
            self.object()
        } else {
            format!("{} (keys: {})", self.object(), self.keys.join(", "))
        }
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(async move {
            match self.kube.get(self.res, &self.name).await {
                Ok(Some(secret)) => judge(&secret, &self.keys, &self.object()),
                Ok(None) => Check::Pending(
                    Observation::new(Class::NotFound, "not found")
                        .cause(format!(
                            "{} does not exist yet; whatever creates it (a Helm hook Job, an operator, an ExternalSecret, a GitOps sync) has not done so",
                            self.object()
                        ))
                        .fix(format!(
                            "see what happened to its creator: kubectl get events -n {} ; kubectl get jobs -n {}",
                            self.kube.namespace, self.kube.namespace
                        )),
                ),
                Err(e) => Check::Pending(api::observe(
                    &e,
                    &Ctx {
                        kube: &self.kube,
                        res: self.res,
                        rules: &self.rules,
                        role: &self.role,
                    },
                )),
            }
        })
    }
}

/// The fields an object keeps its keys in: a ConfigMap's `data` and `binaryData`, a Secret's
/// `data` and `stringData`.
fn key_fields(object: &Value) -> [&'static str; 2] {
    if object.get("kind").and_then(Value::as_str) == Some(CONFIGMAPS.kind) {
        ["data", "binaryData"]
    } else {
        ["data", "stringData"]
    }
}

/// Whether a Secret (or ConfigMap) object has `key`: `None` absent, `Some(false)` empty,
/// `Some(true)` with a value. The value itself goes no further than this function.
pub fn key_state(secret: &Value, key: &str) -> Option<bool> {
    key_fields(secret).iter().find_map(|field| {
        secret
            .get(field)
            .and_then(|d| d.get(key))
            .map(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    })
}

/// Judges a Secret object: every key present in `data` (or `stringData`) with a non-empty value;
/// a ConfigMap the same way, its keys in `data` or `binaryData`.
pub fn judge(secret: &Value, keys: &[String], object: &str) -> Check {
    let has = |key: &str| key_state(secret, key);
    let mut missing = Vec::new();
    let mut empty = Vec::new();
    for key in keys {
        match has(key) {
            None => missing.push(key.as_str()),
            Some(false) => empty.push(key.as_str()),
            Some(true) => {}
        }
    }
    if missing.is_empty() && empty.is_empty() {
        return Check::Ready(match keys.len() {
            0 => format!("{object} exists"),
            1 => format!("{object} has key {}", keys[0]),
            _ => format!("{object} has keys {}", keys.join(", ")),
        });
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "{} {} missing",
            plural_key(missing.len()),
            missing.join(", ")
        ));
    }
    if !empty.is_empty() {
        parts.push(format!(
            "{} {} empty",
            plural_key(empty.len()),
            empty.join(", ")
        ));
    }
    let present: Vec<&str> = key_fields(secret)
        .iter()
        .filter_map(|f| secret.get(f).and_then(Value::as_object))
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    // Whoever wrote the Secret chose its key names: each escaped, and only the first few (a
    // Secret with 50k keys must not make a line of megabytes).
    let mut listed: Vec<String> = present
        .iter()
        .take(MAX_LISTED_KEYS)
        .map(|k| printable(k, KEY_MAX))
        .collect();
    if present.len() > MAX_LISTED_KEYS {
        listed.push(format!("and {} more", present.len() - MAX_LISTED_KEYS));
    }
    let state = format!("found, but {}", parts.join("; "));
    Check::Pending(
        Observation::new(Class::NotReady, state)
            .cause(format!(
                "{object} exists, but not with every key kwait waits for; it has: {}",
                if present.is_empty() {
                    "no keys".to_string()
                } else {
                    listed.join(", ")
                }
            ))
            .fix(format!(
                "check the key names (they are case-sensitive) and whatever fills the {}",
                if key_fields(secret)[1] == "binaryData" {
                    "ConfigMap"
                } else {
                    "Secret"
                }
            )),
    )
}

fn plural_key(n: usize) -> &'static str {
    if n == 1 { "key" } else { "keys" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALUE: &str = "c3VwZXItc2VjcmV0LXZhbHVlLTQyNDI="; // a distinctive value

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_secret_with_every_key_is_ready() {
        let s = json!({"kind":"Secret","data":{"API_KEY":VALUE,"OTHER":VALUE}});
        assert_eq!(
            judge(&s, &keys(&["API_KEY"]), "Secret crs/x"),
            Check::Ready("Secret crs/x has key API_KEY".into())
        );
        assert_eq!(
            judge(&s, &[], "Secret crs/x"),
            Check::Ready("Secret crs/x exists".into())
        );
    }

    #[test]
    fn missing_and_empty_keys_are_named_and_values_never_shown() {
        let s = json!({"kind":"Secret","data":{"OTHER":VALUE,"EMPTY":""}});
        let c = judge(&s, &keys(&["API_KEY", "EMPTY"]), "Secret crs/x");
        let Check::Pending(obs) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(obs.state, "found, but key API_KEY missing; key EMPTY empty");
        assert!(
            obs.cause
                .as_deref()
                .unwrap()
                .contains("it has: EMPTY, OTHER")
        );
        assert!(!format!("{c:?}").contains(VALUE));
    }

    #[test]
    fn a_configmap_has_its_keys_in_data_or_binary_data_and_values_are_never_shown() {
        let cm = json!({"kind":"ConfigMap","data":{"DATABASE_URL":VALUE,"EMPTY":""},
                        "binaryData":{"cert.der":VALUE},"stringData":{"NOT_A_CM_FIELD":VALUE}});
        assert_eq!(
            judge(&cm, &keys(&["DATABASE_URL", "cert.der"]), "ConfigMap crs/x"),
            Check::Ready("ConfigMap crs/x has keys DATABASE_URL, cert.der".into())
        );
        let c = judge(&cm, &keys(&["NOT_A_CM_FIELD", "EMPTY"]), "ConfigMap crs/x");
        let Check::Pending(obs) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(
            obs.state,
            "found, but key NOT_A_CM_FIELD missing; key EMPTY empty"
        );
        assert!(
            obs.cause
                .as_deref()
                .unwrap()
                .contains("it has: DATABASE_URL, EMPTY, cert.der")
        );
        assert!(
            obs.fix[0].ends_with("whatever fills the ConfigMap"),
            "{:?}",
            obs.fix
        );
        assert!(!format!("{c:?}").contains(VALUE));
    }

    #[test]
    fn a_secret_without_data_has_no_keys() {
        let s = json!({"kind":"Secret","metadata":{"name":"x"}});
        let Check::Pending(obs) = judge(&s, &keys(&["A"]), "Secret crs/x") else {
            panic!()
        };
        assert_eq!(obs.state, "found, but key A missing");
        assert!(obs.cause.unwrap().ends_with("it has: no keys"));
    }

    #[test]
    fn the_list_of_present_keys_is_escaped_and_bounded() {
        let mut data = serde_json::Map::new();
        for i in 0..50_000 {
            data.insert(format!("k{i:05}"), json!(VALUE));
        }
        data.insert(
            "a\nkwait: ready after 1s: forged\u{1b}[2K".into(),
            json!(VALUE),
        );
        let s = json!({"kind":"Secret","data":data});
        let Check::Pending(obs) = judge(&s, &keys(&["API_KEY"]), "Secret crs/x") else {
            panic!()
        };
        let cause = obs.cause.unwrap();
        assert!(cause.len() < 2_000, "{} bytes", cause.len());
        assert!(
            !cause.contains('\n') && !cause.contains('\u{1b}'),
            "{cause:?}"
        );
        assert!(cause.contains("a kwait: ready after 1s: forged"), "{cause}");
        assert!(cause.ends_with(", and 49981 more"), "{cause}");
    }
}
