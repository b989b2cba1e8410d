//! Protocol tests of the fake API server with a raw HTTP/1.1 client.

mod common;

use common::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::{Allow, ApiServer, Fault, KubeconfigOpts, ResourceDef, Rule};

const SECRETS: &str = "/api/v1/namespaces/crs/secrets";
const CERTS: &str = "/apis/cert-manager.io/v1/namespaces/crs/certificates";

fn secret(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "labels": labels },
        "data": { "API_KEY": "c2VjcmV0" },
    })
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn discovery_documents() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    let v = c.get("/version").json();
    assert_eq!(v["major"], "1");
    assert_eq!(c.get("/api").json()["versions"], json!(["v1"]));
    let groups = c.get("/apis").json();
    let gnames: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        gnames,
        [
            "apiextensions.k8s.io",
            "apps",
            "batch",
            "cert-manager.io",
            "discovery.k8s.io",
            "policy",
            "storage.k8s.io"
        ]
    );
    let core = c.get("/api/v1").json();
    assert_eq!(core["kind"], "APIResourceList");
    let plurals: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for p in ["secrets", "configmaps", "pods", "services", "pods/status"] {
        assert!(plurals.contains(&p), "{p} missing from {plurals:?}");
    }
    let cm = c.get("/apis/cert-manager.io/v1").json();
    let cert = cm["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "certificates")
        .unwrap();
    assert_eq!(cert["kind"], "Certificate");
    assert_eq!(cert["shortNames"], json!(["cert", "certs"]));
    assert_eq!(c.get("/apis/cert-manager.io").json()["kind"], "APIGroup");
    assert_eq!(c.get("/openapi/v2").status, 404);
    assert_eq!(c.get("/openapi/v3").status, 200);
    assert_eq!(c.get("/healthz").text(), "ok");
}

#[test]
fn unknown_resource_types() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    // unknown plural in a served group: a Status without a name
    let r = c.get("/api/v1/namespaces/crs/widgets/x");
    assert_eq!(r.status, 404);
    let s = r.json();
    assert_eq!(
        s["message"],
        "the server could not find the requested resource"
    );
    assert_eq!(s["details"], json!({}));
    // unknown group: plain text, like the real mux
    let r = c.get("/apis/example.com/v1/namespaces/crs/widgets");
    assert_eq!(r.status, 404);
    assert_eq!(r.text().trim(), "404 page not found");

    // "CRD not installed"
    assert!(api.unregister_resource("certificates.cert-manager.io"));
    let r = c.get(&format!("{CERTS}/x"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["reason"], "NotFound");
    assert!(api.unregister_resource("certificaterequests"));
    let r = c.get(&format!("{CERTS}/x"));
    assert_eq!(r.text().trim(), "404 page not found");
    assert!(!c.get("/apis").text().contains("cert-manager.io"));
    assert!(!api.unregister_resource("certificates"));

    // re-installing brings the type back; so can a new one
    api.register_resource(
        ResourceDef::new("cert-manager.io", "v1", "Certificate", "certificates")
            .short_names(&["cert"]),
    );
    assert_eq!(c.get(CERTS).status, 200);
    api.register_resource(ResourceDef::new("example.com", "v1", "Widget", "widgets"));
    api.create(
        "widgets",
        "crs",
        json!({"metadata": {"name": "w"}, "spec": {}}),
    );
    let w = c
        .get("/apis/example.com/v1/namespaces/crs/widgets/w")
        .json();
    assert_eq!(w["apiVersion"], "example.com/v1");
    assert_eq!(w["kind"], "Widget");
}

#[test]
fn create_get_update_delete() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    let r = c.post(SECRETS, &secret("x", json!({})));
    assert_eq!(r.status, 201);
    let created = r.json();
    let meta = &created["metadata"];
    assert_eq!(meta["namespace"], "crs");
    assert_eq!(meta["uid"].as_str().unwrap().len(), 36);
    assert!(
        meta["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["type"], "Opaque");

    let r = c.post(SECRETS, &secret("x", json!({})));
    assert_eq!(r.status, 409);
    let s = r.json();
    assert_eq!(s["reason"], "AlreadyExists");
    assert_eq!(s["message"], "secrets \"x\" already exists");
    assert_eq!(s["details"], json!({"name": "x", "kind": "secrets"}));

    let got = c.get(&format!("{SECRETS}/x")).json();
    assert_eq!(got, created);

    let r = c.get(&format!("{SECRETS}/missing"));
    assert_eq!(r.status, 404);
    let s = r.json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["message"], "secrets \"missing\" not found");
    assert_eq!(s["details"], json!({"name": "missing", "kind": "secrets"}));
    let r = c.get(&format!("{CERTS}/missing")).json();
    assert_eq!(
        r["message"],
        "certificates.cert-manager.io \"missing\" not found"
    );
    assert_eq!(r["details"]["group"], "cert-manager.io");

    // stringData becomes data
    let r = c.post(
        SECRETS,
        &json!({"metadata": {"name": "sd"}, "stringData": {"K": "hello"}}),
    );
    assert_eq!(r.json()["data"]["K"], "aGVsbG8=");
    assert!(r.json().get("stringData").is_none());

    // PUT with the current resourceVersion succeeds, with a stale one conflicts
    let mut upd = created.clone();
    upd["data"]["OTHER"] = "eA==".into();
    let r = c.put(&format!("{SECRETS}/x"), &upd);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["uid"], created["metadata"]["uid"]);
    let r = c.put(&format!("{SECRETS}/x"), &upd);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");

    let r = c.delete(&format!("{SECRETS}/x"));
    assert_eq!(r.status, 200);
    assert_eq!(c.get(&format!("{SECRETS}/x")).status, 404);
    assert_eq!(c.delete(&format!("{SECRETS}/x")).status, 404);

    // body namespace must match the path
    let r = c.post(
        SECRETS,
        &json!({"metadata": {"name": "y", "namespace": "other"}}),
    );
    assert_eq!(r.status, 400);
    // generateName
    let r = c.post(SECRETS, &json!({"metadata": {"generateName": "gen-"}}));
    assert!(
        r.json()["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("gen-")
    );
    // protobuf is not spoken
    let r = c.request(
        "POST",
        SECRETS,
        "application/vnd.kubernetes.protobuf",
        b"\x00",
    );
    assert_eq!(r.status, 415);
}

#[test]
fn list_with_selectors() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    api.create(
        "secrets",
        "crs",
        secret("a", json!({"app": "web", "tier": "front"})),
    );
    api.create(
        "secrets",
        "crs",
        secret("b", json!({"app": "web", "tier": "back"})),
    );
    api.create("secrets", "crs", secret("c", json!({"app": "db"})));
    api.create("secrets", "other", secret("d", json!({"app": "web"})));
    let list = |q: &str| {
        let r = c.get(&format!("{SECRETS}?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        names(&r.json())
    };
    let all = c.get(SECRETS).json();
    assert_eq!(all["kind"], "SecretList");
    assert!(all["metadata"]["resourceVersion"].is_string());
    assert_eq!(names(&all), ["a", "b", "c"]);
    assert_eq!(list("labelSelector=app%3Dweb"), ["a", "b"]);
    assert_eq!(list("labelSelector=app!%3Dweb"), ["c"]);
    assert_eq!(list("labelSelector=tier"), ["a", "b"]);
    assert_eq!(list("labelSelector=!tier"), ["c"]);
    assert_eq!(list("labelSelector=tier+in+(front,x)"), ["a"]);
    assert_eq!(list("labelSelector=tier%20notin%20(front)"), ["b", "c"]);
    assert_eq!(list("labelSelector=app%3Dweb,tier%3Dback"), ["b"]);
    assert_eq!(list("fieldSelector=metadata.name%3Db"), ["b"]);
    assert_eq!(
        list("fieldSelector=metadata.namespace%3Dcrs"),
        ["a", "b", "c"]
    );
    assert_eq!(
        list("fieldSelector=metadata.name!%3Db&labelSelector=app%3Dweb"),
        ["a"]
    );
    // across namespaces
    let r = c.get("/api/v1/secrets?labelSelector=app%3Dweb").json();
    assert_eq!(names(&r), ["a", "b", "d"]);
    // bad selectors
    assert_eq!(
        c.get(&format!("{SECRETS}?fieldSelector=spec..x%3D1"))
            .status,
        400
    );
    assert_eq!(
        c.get(&format!("{SECRETS}?labelSelector=a+in+b")).status,
        400
    );
    // test-side helpers
    assert_eq!(api.list("secrets", "").len(), 4);
    assert_eq!(api.list("secrets", "other").len(), 1);
}

#[test]
fn patch_status_and_generation() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    let cert = api.create(
        "certificates",
        "crs",
        json!({"metadata": {"name": "tls"}, "spec": {"secretName": "tls", "dnsNames": ["a"]}}),
    );
    assert_eq!(cert["metadata"]["generation"], 1);
    assert_eq!(cert["apiVersion"], "cert-manager.io/v1");

    // status through the subresource: generation unchanged
    let r = c.patch(
        &format!("{CERTS}/tls/status"),
        &json!({"status": {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let o = r.json();
    assert_eq!(o["metadata"]["generation"], 1);
    assert_eq!(o["status"]["conditions"][0]["status"], "True");

    // spec change through the main resource: generation bumped; status in it ignored
    let r = c.patch(
        &format!("{CERTS}/tls"),
        &json!({"spec": {"dnsNames": ["a", "b"]}, "status": {"conditions": []}}),
    );
    let o = r.json();
    assert_eq!(o["metadata"]["generation"], 2);
    assert_eq!(o["spec"]["dnsNames"], json!(["a", "b"]));
    assert_eq!(o["status"]["conditions"][0]["type"], "Ready");

    // metadata-only change: no bump
    let o = c
        .patch(
            &format!("{CERTS}/tls"),
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .json();
    assert_eq!(o["metadata"]["generation"], 2);
    assert_eq!(o["metadata"]["labels"]["x"], "y");

    // strategic merge is treated as merge; JSON patch is refused
    let r = c.request(
        "PATCH",
        &format!("{CERTS}/tls"),
        "application/strategic-merge-patch+json",
        br#"{"spec":{"secretName":"tls2"}}"#,
    );
    assert_eq!(r.json()["spec"]["secretName"], "tls2");
    assert_eq!(r.json()["metadata"]["generation"], 3);
    let r = c.request(
        "PATCH",
        &format!("{CERTS}/tls"),
        "application/json-patch+json",
        b"[]",
    );
    assert_eq!(r.status, 415);
    assert_eq!(c.patch(&format!("{CERTS}/nope"), &json!({})).status, 404);

    // the test helpers: patch touches everything, patch_status only status
    let o = api.patch(
        "certificates",
        "crs",
        "tls",
        json!({"status": {"revision": 4}}),
    );
    assert_eq!(o["status"]["revision"], 4);
    assert_eq!(o["metadata"]["generation"], 3);
    let o = api.patch_status(
        "cert",
        "crs",
        "tls",
        json!({"spec": {"secretName": "ignored"}, "status": {"revision": 5}}),
    );
    assert_eq!(o["spec"]["secretName"], "tls2");
    assert_eq!(o["status"]["revision"], 5);
    // jobs have a status subresource; secrets do not
    assert_eq!(c.get(&format!("{SECRETS}/x/status")).status, 404);
    // PUT /status replaces only status
    let mut full = api.get("certificates", "crs", "tls").unwrap();
    full["spec"]["secretName"] = "nope".into();
    full["status"] = json!({"revision": 6});
    let o = c.put(&format!("{CERTS}/tls/status"), &full).json();
    assert_eq!(o["spec"]["secretName"], "tls2");
    assert_eq!(o["status"]["revision"], 6);
}

#[test]
fn watch_initial_and_live_events() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    api.create("secrets", "crs", secret("a", json!({"app": "web"})));
    api.create("secrets", "other", secret("z", json!({"app": "web"})));
    let mut w = c.watch(&format!("{SECRETS}?watch=1&resourceVersion=0"));
    assert_eq!(w.status, 200);
    let e = w.next().unwrap();
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["metadata"]["name"], "a");
    api.create("secrets", "crs", secret("b", json!({})));
    let e = w.next().unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("b"))
    );
    api.patch("secrets", "crs", "b", json!({"data": {"K": "eA=="}}));
    let e = w.next().unwrap();
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["data"]["K"], "eA==");
    api.delete("secrets", "crs", "b");
    let e = w.next().unwrap();
    assert_eq!(e["type"], "DELETED");
    assert_eq!(e["object"]["metadata"]["name"], "b");
    assert!(
        w.next_within(Duration::from_millis(300)).is_none(),
        "other namespace leaked"
    );

    // watch with a field selector, resourceVersion "" (= most recent, with initial ADDED)
    let mut w = c.watch(&format!(
        "{SECRETS}?watch=true&fieldSelector=metadata.name%3Dlate"
    ));
    assert!(w.next_within(Duration::from_millis(300)).is_none());
    api.create("secrets", "crs", secret("other", json!({})));
    api.create("secrets", "crs", secret("late", json!({})));
    let e = w.next().unwrap();
    assert_eq!(e["object"]["metadata"]["name"], "late");

    // label selector transitions: leaving the selection is DELETED, entering it ADDED
    let mut w = c.watch(&format!("{SECRETS}?watch=1&labelSelector=app%3Dweb"));
    assert_eq!(w.next().unwrap()["object"]["metadata"]["name"], "a");
    api.patch(
        "secrets",
        "crs",
        "a",
        json!({"metadata": {"labels": {"app": "db"}}}),
    );
    assert_eq!(w.next().unwrap()["type"], "DELETED");
    api.patch(
        "secrets",
        "crs",
        "a",
        json!({"metadata": {"labels": {"app": "web"}}}),
    );
    assert_eq!(w.next().unwrap()["type"], "ADDED");
}

#[test]
fn watch_resume_bookmarks_timeout_and_410() {
    let api = ApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start();
    let c = Client::new(api.port());
    let a = api.create("secrets", "crs", secret("a", json!({})));
    let rv = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    api.patch("secrets", "crs", "a", json!({"data": {"N": "MQ=="}}));
    api.delete("secrets", "crs", "a");

    // resume from rv: only what happened after it
    let mut w = c.watch(&format!("{SECRETS}?watch=1&resourceVersion={rv}"));
    assert_eq!(w.next().unwrap()["type"], "MODIFIED");
    assert_eq!(w.next().unwrap()["type"], "DELETED");

    // bookmarks carry the latest resourceVersion and no object body
    let mut w = c.watch(&format!(
        "{SECRETS}?watch=1&resourceVersion={}&allowWatchBookmarks=true",
        api.resource_version()
    ));
    let e = w.next().unwrap();
    assert_eq!(e["type"], "BOOKMARK");
    assert_eq!(e["object"]["kind"], "Secret");
    assert_eq!(
        e["object"]["metadata"]["resourceVersion"],
        api.resource_version().to_string()
    );

    // timeoutSeconds ends the stream
    let started = Instant::now();
    let mut w = c.watch(&format!("{SECRETS}?watch=1&timeoutSeconds=1"));
    assert!(w.ended_within(Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // too old: ERROR event with a 410 Expired Status in a 200 stream
    api.compact();
    let mut w = c.watch(&format!("{SECRETS}?watch=1&resourceVersion={rv}"));
    assert_eq!(w.status, 200);
    let e = w.next().unwrap();
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.ended_within(Duration::from_secs(2)));

    // injected 410s, then a normal watch
    api.gone_next_watches(1);
    let mut w = c.watch(&format!("{SECRETS}?watch=1"));
    assert_eq!(w.next().unwrap()["object"]["code"], 410);
    let mut w = c.watch(&format!("{SECRETS}?watch=1&allowWatchBookmarks=true"));
    assert_eq!(w.next().unwrap()["type"], "BOOKMARK");

    // a small history limit expires old resourceVersions by itself
    let api = ApiServer::builder().history_limit(2).start();
    let c = Client::new(api.port());
    let first = api.create("secrets", "crs", secret("a", json!({})));
    for i in 0..3 {
        api.create("secrets", "crs", secret(&format!("n{i}"), json!({})));
    }
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap();
    let mut w = c.watch(&format!("{SECRETS}?watch=1&resourceVersion={rv}"));
    assert_eq!(w.next().unwrap()["type"], "ERROR");
}

#[test]
fn authentication_and_authorization() {
    let api = ApiServer::builder().auth(true).start();
    let sa = "system:serviceaccount:crs:default";
    api.add_token(
        "limited",
        sa,
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets")
                .names(&["x"])
                .namespace("crs"),
            Rule::new(&["patch"], "jobs/status"),
        ]),
    );
    api.create("secrets", "crs", secret("x", json!({})));
    api.create("secrets", "crs", secret("y", json!({})));

    // 401 without or with an unknown token
    for c in [
        Client::new(api.port()),
        Client::with_token(api.port(), "bogus"),
    ] {
        let r = c.get(&format!("{SECRETS}/x"));
        assert_eq!(r.status, 401);
        let s = r.json();
        assert_eq!(s["reason"], "Unauthorized");
        assert_eq!(s["message"], "Unauthorized");
        assert_eq!(c.get("/api").status, 401);
    }

    let c = Client::with_token(api.port(), "limited");
    assert_eq!(c.get(&format!("{SECRETS}/x")).status, 200);
    assert_eq!(
        c.get("/apis").status,
        200,
        "discovery is open to any known user"
    );
    let r = c.get(&format!("{SECRETS}/y"));
    assert_eq!(r.status, 403);
    let s = r.json();
    assert_eq!(
        s["message"],
        format!(
            "secrets \"y\" is forbidden: User \"{sa}\" cannot get resource \"secrets\" in API group \"\" in the namespace \"crs\""
        )
    );
    assert_eq!(s["reason"], "Forbidden");
    assert_eq!(s["details"], json!({"name": "y", "kind": "secrets"}));
    // other namespace
    assert_eq!(c.get("/api/v1/namespaces/other/secrets/x").status, 403);
    // a watch pinned to the name counts as a request for it; a list does not
    let w = c.watch(&format!(
        "{SECRETS}?watch=1&fieldSelector=metadata.name%3Dx"
    ));
    assert_eq!(w.status, 200);
    let r = c.get(&format!("{SECRETS}?fieldSelector=metadata.name%3Dx"));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        format!(
            "secrets is forbidden: User \"{sa}\" cannot list resource \"secrets\" in API group \"\" in the namespace \"crs\""
        )
    );
    // subresources and groups in the message
    let r = c.get("/apis/batch/v1/namespaces/crs/jobs/j");
    assert_eq!(
        r.json()["message"],
        format!(
            "jobs.batch \"j\" is forbidden: User \"{sa}\" cannot get resource \"jobs\" in API group \"batch\" in the namespace \"crs\""
        )
    );
    assert_eq!(
        c.patch("/apis/batch/v1/namespaces/crs/jobs/j/status", &json!({}))
            .status,
        404,
        "allowed, but the job does not exist"
    );
    // cluster scope
    let r = c.get("/api/v1/secrets");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("at the cluster scope")
    );

    // the allow list changes at runtime
    api.set_allow("limited", Allow::none());
    assert_eq!(c.get(&format!("{SECRETS}/x")).status, 403);
    api.set_allow("limited", Allow::All);
    assert_eq!(c.get(&format!("{SECRETS}/y")).status, 200);
    // the admin token and turning auth off
    assert_eq!(
        Client::with_token(api.port(), api.admin_token())
            .get(&format!("{SECRETS}/y"))
            .status,
        200
    );
    api.set_auth(false);
    assert_eq!(
        Client::new(api.port()).get(&format!("{SECRETS}/y")).status,
        200
    );
}

#[test]
fn injected_failures_and_delays() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    api.create("secrets", "crs", secret("x", json!({})));
    let path = format!("{SECRETS}/x");

    api.fail_next(Fault::status(500).times(2).verb("get").resource("secrets"));
    assert_eq!(c.get(SECRETS).status, 200, "a list does not match verb get");
    for _ in 0..2 {
        let r = c.get(&path);
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["reason"], "InternalError");
    }
    assert_eq!(c.get(&path).status, 200);

    api.fail_next(Fault::status(429).retry_after(2));
    let r = c.get("/api");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("2"));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 2);
    assert_eq!(r.json()["reason"], "TooManyRequests");

    api.fail_next(Fault::status(503).message("etcd is sad"));
    assert_eq!(c.get(&path).json()["message"], "etcd is sad");

    api.delay(Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(c.get(&path).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    api.delay_matching(Duration::from_millis(400), Some("list"), None);
    let t = Instant::now();
    c.get(&path);
    assert!(t.elapsed() < Duration::from_millis(400));
    api.delay(Duration::ZERO);

    api.drop_connections(1);
    let e = c.try_request("GET", &path, "", b"");
    assert!(e.is_err(), "connection should have been dropped");
    assert_eq!(c.get(&path).status, 200);

    let mut w = c.watch(&format!("{SECRETS}?watch=1"));
    assert_eq!(w.next().unwrap()["type"], "ADDED");
    assert_eq!(api.open_watches(), 1);
    api.close_watches();
    assert!(w.ended_within(Duration::from_secs(3)));

    api.fail_next(Fault::status(500).times(10));
    api.drop_connections(3);
    api.gone_next_watches(3);
    api.clear_faults();
    assert_eq!(c.get(&path).status, 200);
}

#[test]
fn stop_and_restart_on_the_same_port() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    api.create("secrets", "crs", secret("x", json!({})));
    let mut w = c.watch(&format!("{SECRETS}?watch=1"));
    assert_eq!(w.next().unwrap()["type"], "ADDED");
    let port = api.port();
    api.stop();
    assert!(!api.is_running());
    assert!(
        w.ended_within(Duration::from_secs(3)),
        "watch survived stop"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    api.create("secrets", "crs", secret("while-down", json!({})));
    api.restart();
    assert!(api.is_running());
    assert_eq!(api.port(), port);
    assert_eq!(c.get(&format!("{SECRETS}/x")).status, 200);
    assert_eq!(c.get(&format!("{SECRETS}/while-down")).status, 200);
    api.restart(); // no-op when running
    assert_eq!(c.get(&format!("{SECRETS}/x")).status, 200);
}

#[test]
fn counters() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    api.create("secrets", "crs", secret("x", json!({})));
    c.get("/api");
    c.get(&format!("{SECRETS}/x"));
    c.get(&format!("{SECRETS}/missing"));
    c.get(SECRETS);
    c.patch(&format!("{SECRETS}/x"), &json!({}));
    let mut w = c.watch(&format!(
        "{SECRETS}?watch=1&fieldSelector=metadata.name%3Dx&allowWatchBookmarks=true"
    ));
    w.next();
    assert_eq!(api.count("get"), 2, "{:?}", api.requests());
    assert_eq!(api.count("list"), 1);
    assert_eq!(api.count("watch"), 1);
    assert_eq!(api.count("patch"), 1);
    assert_eq!(api.count_for("get", "secrets"), 2);
    assert_eq!(
        api.count_for("get", ""),
        1,
        "discovery is recorded as a non-resource get"
    );
    let reqs = api.requests();
    let miss = reqs
        .iter()
        .find(|r| r.name.as_deref() == Some("missing"))
        .unwrap();
    assert_eq!(miss.status, 404);
    assert_eq!(miss.namespace.as_deref(), Some("crs"));
    assert_eq!(miss.resource, "secrets");
    let watch = reqs.iter().find(|r| r.verb == "watch").unwrap();
    assert_eq!(watch.name.as_deref(), Some("x"));
    assert!(watch.path.contains("watch=1"));
    api.reset_counters();
    assert!(api.requests().is_empty());
    assert_eq!(api.count("get"), 0);
}

#[test]
fn kubeconfig_and_helpers() {
    let api = ApiServer::builder().tls(true).auth(true).start();
    assert!(api.url().starts_with("https://127.0.0.1:"));
    assert!(api.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let dir = std::env::temp_dir().join(format!("testkit-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = api.write_kubeconfig(
        &dir,
        KubeconfigOpts {
            token: Some("tok"),
            namespace: Some("crs"),
            ..Default::default()
        },
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("server: \"{}\"", api.url())));
    assert!(text.contains("certificate-authority-data: "));
    assert!(text.contains("token: \"tok\""));
    assert!(text.contains("namespace: \"crs\""));
    assert!(text.contains("current-context: \"testkit\""));
    let insecure = api.kubeconfig(&KubeconfigOpts {
        insecure: true,
        server: Some("https://127.0.0.1:1"),
        ..Default::default()
    });
    assert!(insecure.contains("insecure-skip-tls-verify: true"));
    assert!(insecure.contains("user: {}"));
    std::fs::remove_dir_all(&dir).unwrap();

    // apply creates then replaces; try_create reports the Status
    api.apply(
        "cm",
        "crs",
        json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
    );
    let o = api.apply(
        "configmaps",
        "crs",
        json!({"metadata": {"name": "c"}, "data": {"a": "2"}}),
    );
    assert_eq!(o["data"]["a"], "2");
    let err = api
        .try_create("configmap", "crs", json!({"metadata": {"name": "c"}}))
        .unwrap_err();
    assert_eq!(err["code"], 409);
    assert!(api.get("configmaps", "crs", "nope").is_none());
    assert!(api.delete("configmaps", "crs", "c"));
    assert!(!api.delete("configmaps", "crs", "c"));
    // handles are cheap clones of one server
    let api2 = api.clone();
    api2.create("secrets", "crs", json!({"metadata": {"name": "s"}}));
    assert!(api.get("secrets", "crs", "s").is_some());
}

#[test]
fn cluster_scoped_objects_have_no_namespace_and_a_created_crd_serves_its_type() {
    let api = ApiServer::start();
    let c = Client::new(api.port());
    const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "helmreleases.helm.toolkit.fluxcd.io"},
        "spec": {"group": "helm.toolkit.fluxcd.io", "scope": "Namespaced",
                 "names": {"kind": "HelmRelease", "plural": "helmreleases", "singular": "helmrelease", "shortNames": ["hr"], "listKind": "HelmReleaseList"},
                 "versions": [
                    {"name": "v2beta2", "served": true, "storage": false, "subresources": {"status": {}}},
                    {"name": "v2", "served": true, "storage": true, "subresources": {"status": {}}}]}
    });
    assert_eq!(c.get("/apis/helm.toolkit.fluxcd.io/v2").status, 404);
    let created = c.post(CRDS, &crd);
    assert_eq!(created.status, 201, "{}", created.text());
    let stored = created.json();
    assert!(stored["metadata"].get("namespace").is_none(), "{stored}");
    assert_eq!(stored["status"]["conditions"][1]["type"], "Established");
    // Served, the storage version preferred.
    let group = c.get("/apis/helm.toolkit.fluxcd.io").json();
    assert_eq!(group["preferredVersion"]["version"], "v2");
    let v2 = c.get("/apis/helm.toolkit.fluxcd.io/v2").json();
    assert_eq!(v2["resources"][0]["name"], "helmreleases");
    assert_eq!(v2["resources"][0]["shortNames"], json!(["hr"]));
    let hr = c.post(
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/apps/helmreleases",
        &json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "x"}, "spec": {}}),
    );
    assert_eq!(hr.status, 201, "{}", hr.text());
    // The CRD itself by its cluster-scoped path; a namespaced path for it is not routed.
    let path = format!("{CRDS}/helmreleases.helm.toolkit.fluxcd.io");
    assert_eq!(c.get(&path).status, 200);
    assert_eq!(
        c.get("/apis/apiextensions.k8s.io/v1/namespaces/crs/customresourcedefinitions/helmreleases.helm.toolkit.fluxcd.io").status,
        404
    );
    assert_eq!(
        c.get("/apis/apps/v1/deployments/web").status,
        404,
        "a namespaced type needs its namespace"
    );
    let core = c.get("/api/v1").json();
    let pv = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "persistentvolumes")
        .unwrap();
    assert_eq!(pv["namespaced"], false);
    // Deleting the CRD stops serving its type.
    assert_eq!(c.delete(&path).status, 200);
    assert_eq!(c.get("/apis/helm.toolkit.fluxcd.io/v2").status, 404);
}
