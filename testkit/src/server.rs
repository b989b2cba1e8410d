//! The HTTP side: accept loop, TLS, routing, handlers, watch streams.

use crate::model::{Answer, AuthzRequest, Fault, RequestRecord, ResourceDef};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{ApiError, Event, Part, State, default_message, details};
use crate::util::parse_query;
use crate::watchfault::{self, WatchFault};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

/// State shared between the handle and the server tasks.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Bumped to close every open watch stream.
    pub close_watches: watch::Sender<u64>,
    /// Bumped to stop the listener and every connection.
    pub stop: watch::Sender<u64>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub port: u16,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Response body: a whole buffer or a stream of chunks (watch).
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

type Resp = Response<Body>;

fn json_response(code: u16, v: &Value) -> Resp {
    let mut body = serde_json::to_vec(v).expect("json");
    body.push(b'\n');
    let mut r = Response::new(Body::Full(Some(Bytes::from(body))));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Resp {
    json_response(e.code, &e.status())
}

/// The answer of an injected fault: its `Status`, exact bytes, a streamed body, or a `Status`
/// echoing the request's `Authorization` header.
fn fault_response(f: &Fault, mut err: ApiError, req: &Request<Incoming>) -> Resp {
    let code = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match &f.answer {
        Answer::Status => return error_response(&err),
        Answer::EchoAuthorization => {
            let auth = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            err.message = format!("{} (Authorization: {auth})", err.message);
            return error_response(&err);
        }
        Answer::Body(bytes) => Body::Full(Some(Bytes::from(bytes.clone()))),
        Answer::Stream {
            head,
            fill,
            len,
            tail,
            chunk,
            every,
        } => {
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            let (head, tail, every, len) = (head.clone(), tail.clone(), *every, *len);
            let chunk = (*chunk).max(1);
            let filler = Bytes::from(vec![*fill; chunk]);
            tokio::spawn(async move {
                if !head.is_empty() && tx.send(Bytes::from(head)).await.is_err() {
                    return;
                }
                let mut left = len;
                while left != Some(0) {
                    let n = left.map_or(chunk, |l| l.min(chunk as u64) as usize);
                    if tx.send(filler.slice(..n)).await.is_err() {
                        return;
                    }
                    left = left.map(|l| l - n as u64);
                    if !every.is_zero() {
                        tokio::time::sleep(every).await;
                    }
                }
                if !tail.is_empty() {
                    let _ = tx.send(Bytes::from(tail)).await;
                }
            });
            Body::Stream(rx)
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text_404() -> Resp {
    let mut r = Response::new(Body::Full(Some(Bytes::from_static(
        b"404 page not found\n",
    ))));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Accepts connections until the stop signal; then drops the listener and acknowledges.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop_rx: watch::Receiver<u64>,
    ack: std::sync::mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    let rx = shared.stop.subscribe();
                    tokio::spawn(connection(shared.clone(), tcp, rx));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stop_rx.changed() => break,
        }
    }
    drop(listener);
    let _ = ack.send(());
}

async fn connection(
    shared: Arc<Shared>,
    tcp: tokio::net::TcpStream,
    mut stop_rx: watch::Receiver<u64>,
) {
    let _ = tcp.set_nodelay(true);
    let tls = shared.tls.clone();
    let builder = hyper::server::conn::http1::Builder::new();
    match tls {
        Some(cfg) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let stream = tokio::select! {
                s = acceptor.accept(tcp) => match s {
                    Ok(s) => s,
                    Err(_) => return,
                },
                _ = stop_rx.changed() => return,
            };
            let peer: Option<Arc<Vec<u8>>> = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Arc::new(c.to_vec()));
            let svc_shared = shared.clone();
            let svc = service_fn(move |req| handle(svc_shared.clone(), req, peer.clone()));
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop_rx.changed() => {}
            }
        }
        None => {
            let svc_shared = shared.clone();
            let svc = service_fn(move |req| handle(svc_shared.clone(), req, None));
            let conn = builder.serve_connection(TokioIo::new(tcp), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop_rx.changed() => {}
            }
        }
    }
}

/// What a request is about, parsed from its method, path and query.
struct Info {
    method: Method,
    content_type: String,
    /// The `Accept` header (aggregated discovery is answered when it asks for it).
    accept: String,
    path_q: String,
    params: Vec<(String, String)>,
    verb: String,
    route: Route,
}

enum Route {
    /// Discovery, version, health, openapi...
    NonResource(String),
    Resource {
        group: String,
        version: String,
        plural: String,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE" | "t" | "T")
}

impl Info {
    fn parse(req: &Request<Incoming>) -> Info {
        let mut info = Info::parse_route(req);
        info.content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        info.accept = req
            .headers()
            .get(hyper::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        info
    }

    fn parse_route(req: &Request<Incoming>) -> Info {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let path_q = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let params = parse_query(&query);
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segs.as_slice() {
            ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
            ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
            _ => ("", "", &[][..]),
        };
        let resource = match rest {
            ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => Some((
                Some(ns.to_string()),
                plural.to_string(),
                tail.first().map(|s| s.to_string()),
                tail.get(1).map(|s| s.to_string()),
            )),
            ["namespaces", ns] => Some((None, "namespaces".into(), Some(ns.to_string()), None)),
            [plural] => Some((None, plural.to_string(), None, None)),
            // A cluster-scoped object (a namespaced type's is answered 404 below).
            [plural, name, tail @ ..] if tail.len() <= 1 => Some((
                None,
                plural.to_string(),
                Some(name.to_string()),
                tail.first().map(|s| s.to_string()),
            )),
            _ => None,
        };
        let is_watch = params.iter().any(|(k, v)| k == "watch" && truthy(v));
        match resource {
            Some((namespace, plural, name, sub)) => {
                let verb = match (&method, name.is_some()) {
                    (&Method::GET, true) => "get",
                    (&Method::GET, false) if is_watch => "watch",
                    (&Method::GET, false) => "list",
                    (&Method::POST, _) => "create",
                    (&Method::PUT, _) => "update",
                    (&Method::PATCH, _) => "patch",
                    (&Method::DELETE, true) => "delete",
                    (&Method::DELETE, false) => "deletecollection",
                    (m, _) => return Info::non_resource(method.clone(), path_q, params, m),
                };
                Info {
                    method,
                    content_type: String::new(),
                    accept: String::new(),
                    path_q,
                    params,
                    verb: verb.to_string(),
                    route: Route::Resource {
                        group: group.to_string(),
                        version: version.to_string(),
                        plural,
                        namespace,
                        name,
                        sub,
                    },
                }
            }
            None => {
                let m = method.clone();
                Info::non_resource(method, path_q, params, &m)
            }
        }
    }

    fn non_resource(
        method: Method,
        path_q: String,
        params: Vec<(String, String)>,
        m: &Method,
    ) -> Info {
        let path = path_q.split('?').next().unwrap_or("").to_string();
        Info {
            verb: m.as_str().to_ascii_lowercase(),
            method,
            content_type: String::new(),
            accept: String::new(),
            path_q,
            params,
            route: Route::NonResource(path),
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn resource(&self) -> &str {
        match &self.route {
            Route::Resource { plural, .. } => plural,
            Route::NonResource(_) => "",
        }
    }

    /// The object name as RBAC sees it: from the path, or for a watch from the field selector.
    fn authz_name(&self) -> Option<String> {
        match &self.route {
            Route::Resource { name: Some(n), .. } => Some(n.clone()),
            Route::Resource { name: None, .. } if self.verb == "watch" => self
                .param("fieldSelector")
                .and_then(|f| FieldSelector::parse(f).ok())
                .and_then(|f| f.name().map(str::to_string)),
            _ => None,
        }
    }

    fn record(&self, status: u16, time: SystemTime) -> RequestRecord {
        let (resource, subresource, namespace) = match &self.route {
            Route::Resource {
                plural,
                sub,
                namespace,
                ..
            } => (plural.clone(), sub.clone(), namespace.clone()),
            Route::NonResource(_) => (String::new(), None, None),
        };
        RequestRecord {
            verb: self.verb.clone(),
            resource,
            subresource,
            namespace,
            name: self.authz_name(),
            path: self.path_q.clone(),
            status,
            time,
            subject: None,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: Option<Arc<Vec<u8>>>,
) -> Result<Resp, io::Error> {
    let time = SystemTime::now();
    let info = Info::parse(&req);
    let mut subject = None;
    let result = handle_inner(&shared, &info, req, peer.as_deref(), &mut subject).await;
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    let mut record = info.record(status, time);
    record.subject = subject;
    shared.lock().records.push(record);
    result
}

fn bearer(req: &Request<Incoming>) -> Option<String> {
    let h = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, tok) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| tok.trim().to_string())
}

async fn handle_inner(
    shared: &Arc<Shared>,
    info: &Info,
    req: Request<Incoming>,
    peer: Option<&Vec<u8>>,
    subject: &mut Option<String>,
) -> Result<Resp, io::Error> {
    // 1. injected delay
    let delay = {
        let st = shared.lock();
        st.delay.as_ref().and_then(|d| {
            (d.verb.as_deref().is_none_or(|v| v == info.verb)
                && d.resource.as_deref().is_none_or(|r| r == info.resource()))
            .then_some(d.duration)
        })
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    // 2. injected connection drops and failures
    let who = {
        let mut st = shared.lock();
        if st.drop_next > 0 {
            st.drop_next -= 1;
            return Err(io::Error::other("testkit: connection dropped on purpose"));
        }
        if let Some(i) = st
            .faults
            .iter()
            .position(|f| f.times > 0 && f.matches(&info.verb, info.resource()))
        {
            let f = st.faults[i].clone();
            st.faults[i].times -= 1;
            if st.faults[i].times == 0 {
                st.faults.remove(i);
            }
            let msg = f
                .message
                .clone()
                .unwrap_or_else(|| default_message(f.status));
            let mut err = ApiError::new(f.status, msg);
            if let Some(secs) = f.retry_after {
                err = err.details(json!({ "retryAfterSeconds": secs }));
            }
            let mut r = fault_response(&f, err, &req);
            if let Some(secs) = f.retry_after {
                r.headers_mut()
                    .insert("Retry-After", HeaderValue::from(secs));
            }
            return Ok(r);
        }
        // 3. authentication
        if st.auth {
            // A bearer token when one is sent, else the client certificate.
            let known = match bearer(&req) {
                Some(t) => st.tokens.get(&t),
                None => peer.and_then(|der| st.client_certs.get(der)),
            };
            match known {
                Some(t) => {
                    *subject = Some(t.subject.clone());
                    Some((t.subject.clone(), t.allow.clone()))
                }
                None => return Ok(error_response(&ApiError::new(401, "Unauthorized"))),
            }
        } else {
            None
        }
    };
    let (group, version, plural, namespace, name, sub) = match &info.route {
        Route::NonResource(path) => {
            if info.method != Method::GET {
                return Ok(error_response(&ApiError::new(405, "method not allowed")));
            }
            return Ok(discovery(shared, path, &info.accept));
        }
        Route::Resource {
            group,
            version,
            plural,
            namespace,
            name,
            sub,
        } => (group, version, plural, namespace, name, sub),
    };
    // 4. authorization
    if let Some((subject, allow)) = &who {
        let authz_name = info.authz_name();
        let areq = AuthzRequest {
            verb: &info.verb,
            group,
            resource: plural,
            subresource: sub.as_deref(),
            namespace: namespace.as_deref(),
            name: authz_name.as_deref(),
        };
        if !allow.permits(&areq) {
            return Ok(error_response(&forbidden(&areq, subject)));
        }
    }
    // 5. namespaces are synthetic: every namespace exists
    if group.is_empty() && version == "v1" && plural == "namespaces" && namespace.is_none() {
        return Ok(namespaces(shared, info, name.as_deref()));
    }
    // 6. resource lookup
    let def = {
        let st = shared.lock();
        if !st.serves_group_version(group, version) {
            return Ok(text_404());
        }
        match st.lookup(group, version, plural) {
            Some(d) => d,
            None => return Ok(error_response(&ApiError::no_resource())),
        }
    };
    // A namespaced type's object has a namespace in its path, a cluster-scoped one has none
    // (the real mux answers `404 page not found` to either mistake).
    if (def.namespaced && namespace.is_none() && name.is_some())
        || (!def.namespaced && namespace.is_some())
    {
        return Ok(text_404());
    }
    if sub
        .as_deref()
        .is_some_and(|s| s != "status" || !def.status_subresource)
    {
        return Ok(error_response(&ApiError::no_resource()));
    }
    let body = match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Err(io::Error::other("body read failed")),
    };
    Ok(resource_request(
        shared,
        info,
        &def,
        namespace.as_deref(),
        name.as_deref(),
        sub.is_some(),
        &body,
        &info.method,
    ))
}

fn namespace_object(name: &str) -> Value {
    json!({
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": format!("00000000-0000-4000-8000-{:012x}", name.len()),
            "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": { "kubernetes.io/metadata.name": name },
        },
        "spec": { "finalizers": ["kubernetes"] },
        "status": { "phase": "Active" },
    })
}

/// GET of a namespace (any name exists) or LIST of the namespaces objects live in.
fn namespaces(shared: &Arc<Shared>, info: &Info, name: Option<&str>) -> Resp {
    match (info.verb.as_str(), name) {
        ("get", Some(n)) => json_response(200, &namespace_object(n)),
        ("list", None) => {
            let st = shared.lock();
            let mut names: Vec<String> = st.objects.keys().map(|k| k.2.clone()).collect();
            names.push("default".into());
            names.sort();
            names.dedup();
            let items: Vec<Value> = names.iter().map(|n| namespace_object(n)).collect();
            json_response(
                200,
                &json!({
                    "kind": "NamespaceList",
                    "apiVersion": "v1",
                    "metadata": { "resourceVersion": st.rv.to_string() },
                    "items": items,
                }),
            )
        }
        _ => error_response(&ApiError::new(
            405,
            "testkit serves namespaces read-only (get, list)",
        )),
    }
}

fn forbidden(a: &AuthzRequest<'_>, subject: &str) -> ApiError {
    let qp = crate::model::qualified(a.resource, a.group);
    let res = match a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.to_string(),
    };
    let target = match a.name {
        Some(n) => format!("{qp} \"{n}\""),
        None => qp,
    };
    let scope = match a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    ApiError::new(
        403,
        format!(
            "{target} is forbidden: User \"{subject}\" cannot {} resource \"{res}\" in API group \"{}\" {scope}",
            a.verb, a.group
        ),
    )
    .details(details(a.group, a.resource, a.name))
}

#[allow(clippy::too_many_arguments)]
fn resource_request(
    shared: &Arc<Shared>,
    info: &Info,
    def: &ResourceDef,
    namespace: Option<&str>,
    name: Option<&str>,
    status_sub: bool,
    body: &Bytes,
    method: &Method,
) -> Resp {
    let parse_body = || -> Result<Value, ApiError> {
        let ct = info.content_type.as_str();
        if !(ct.is_empty() || ct.starts_with("application/json") || ct.contains("merge-patch+json"))
        {
            return Err(ApiError::new(
                415,
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json (testkit does not implement {ct:?})"
                ),
            ));
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new(400, format!("json parse error: {e}")))
    };
    let ns = match namespace {
        Some(ns) => ns,
        // A cluster-scoped type: its objects are stored without a namespace; a LIST or WATCH
        // of its collection is the cluster-wide one below.
        None if !def.namespaced && (*method != Method::GET || name.is_some()) => "",
        None => {
            // cluster-wide: only list and watch across namespaces
            return match info.verb.as_str() {
                "list" => list(shared, info, def, None),
                "watch" => start_watch(shared, info, def, None),
                _ => error_response(&ApiError::new(
                    405,
                    "the server does not allow this method on the requested resource",
                )),
            };
        }
    };
    let result = match (method, name) {
        (&Method::GET, Some(n)) => shared.lock().get(def, ns, n).map(|v| (200, v)),
        (&Method::GET, None) if info.verb == "watch" => {
            return start_watch(shared, info, def, Some(ns));
        }
        (&Method::GET, None) => return list(shared, info, def, Some(ns)),
        (&Method::POST, None) => {
            parse_body().and_then(|b| shared.lock().create(def, ns, b).map(|v| (201, v)))
        }
        (&Method::PUT, Some(n)) => parse_body().and_then(|b| {
            let part = if status_sub {
                Part::Status
            } else if def.status_subresource {
                Part::Main
            } else {
                Part::All
            };
            shared.lock().replace(def, ns, n, b, part).map(|v| (200, v))
        }),
        (&Method::PATCH, Some(n)) => {
            let ct = &info.content_type;
            if !(ct.starts_with("application/merge-patch+json")
                || ct.starts_with("application/strategic-merge-patch+json"))
            {
                Err(ApiError::new(
                    415,
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (testkit does not implement {ct:?})"
                    ),
                ))
            } else {
                let part = if status_sub {
                    Part::Status
                } else if def.status_subresource {
                    Part::Main
                } else {
                    Part::All
                };
                parse_body()
                    .and_then(|p| shared.lock().patch(def, ns, n, &p, part).map(|v| (200, v)))
            }
        }
        (&Method::DELETE, Some(n)) => shared.lock().delete(def, ns, n).map(|v| (200, v)),
        _ => Err(ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        )),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn selectors(info: &Info) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(info.param("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::new(400, e))?;
    let f = FieldSelector::parse(info.param("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::new(400, e))?;
    Ok((l, f))
}

fn list(shared: &Arc<Shared>, info: &Info, def: &ResourceDef, ns: Option<&str>) -> Resp {
    let (labels, fields) = match selectors(info) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let st = shared.lock();
    let items: Vec<Value> = st
        .list(def, ns)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    json_response(
        200,
        &json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": { "resourceVersion": st.rv.to_string() },
            "items": items,
        }),
    )
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({ "type": kind, "object": object })).expect("json");
    v.push(b'\n');
    Bytes::from(v)
}

struct WatchFilter {
    group: String,
    plural: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, o: &Value) -> bool {
        self.labels.matches(o) && self.fields.matches(o)
    }

    /// The line to send for this event, if any (selector transitions become ADDED/DELETED).
    fn line(&self, ev: &Event) -> Option<Bytes> {
        if ev.group != self.group
            || ev.plural != self.plural
            || self.namespace.as_deref().is_some_and(|n| n != ev.namespace)
        {
            return None;
        }
        let kind = if ev.kind == "MODIFIED" {
            let now = self.matches(&ev.object);
            let before = ev.old.as_ref().is_some_and(|o| self.matches(o));
            match (before, now) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            }
        } else if self.matches(&ev.object) {
            ev.kind
        } else {
            return None;
        };
        Some(event_line(kind, &ev.object))
    }
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if initial_end {
        meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        &json!({ "kind": def.kind, "apiVersion": def.api_version(), "metadata": meta }),
    )
}

fn gone(rv: &str, oldest: u64) -> Bytes {
    let e = ApiError::new(410, format!("too old resource version: {rv} ({oldest})"));
    event_line("ERROR", &e.status())
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Resp {
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn start_watch(shared: &Arc<Shared>, info: &Info, def: &ResourceDef, ns: Option<&str>) -> Resp {
    let (labels, mut fields) = match selectors(info) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let hostile = shared.lock().watch_fault;
    match hostile {
        Some(f @ (WatchFault::NoNewline | WatchFault::Trickle | WatchFault::Silent)) => {
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            watchfault::feed(shared, f, tx);
            return stream_response(rx);
        }
        Some(WatchFault::IgnoreFieldSelector) => fields = FieldSelector::default(),
        None => {}
    }
    let filter = WatchFilter {
        group: def.group.clone(),
        plural: def.plural.clone(),
        namespace: ns.map(str::to_string),
        labels,
        fields,
    };
    let bookmarks = info.param("allowWatchBookmarks").is_some_and(truthy);
    let send_initial = info.param("sendInitialEvents").is_some_and(truthy);
    let timeout = info
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let rv_param = info.param("resourceVersion").unwrap_or("").to_string();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let mut st = shared.lock();
    if st.gone_next > 0 {
        st.gone_next -= 1;
        let line = gone(if rv_param.is_empty() { "0" } else { &rv_param }, st.rv);
        drop(st);
        let mut r = Response::new(Body::Full(Some(line)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return r;
    }
    if rv_param.is_empty() || rv_param == "0" || send_initial {
        for o in st.list(def, ns) {
            if filter.matches(&o) {
                initial.push(event_line("ADDED", &o));
            }
        }
        if send_initial && bookmarks {
            initial.push(bookmark(def, st.rv, true));
        }
    } else {
        let Ok(from) = rv_param.parse::<u64>() else {
            return error_response(&ApiError::new(
                400,
                format!("invalid resource version: {rv_param}"),
            ));
        };
        if from < st.compacted {
            let line = gone(&rv_param, st.compacted + 1);
            drop(st);
            let mut r = Response::new(Body::Full(Some(line)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return r;
        }
        for ev in st.history.iter().filter(|e| e.rv > from) {
            if let Some(l) = filter.line(ev) {
                initial.push(l);
            }
        }
    }
    let sub = st.events.subscribe();
    let last_rv = st.rv;
    let interval = st.bookmark_interval.max(Duration::from_millis(1));
    st.open_watches += 1;
    drop(st);
    let close_rx = shared.close_watches.subscribe();
    let stop_rx = shared.stop.subscribe();
    let task = WatchTask {
        shared: shared.clone(),
        def: def.clone(),
        tx,
        sub,
        filter,
        bookmarks,
        interval,
        timeout,
        last_rv,
        close_rx,
        stop_rx,
    };
    tokio::spawn(task.run(initial));
    stream_response(rx)
}

struct WatchTask {
    shared: Arc<Shared>,
    def: ResourceDef,
    tx: mpsc::Sender<Bytes>,
    sub: broadcast::Receiver<Arc<Event>>,
    filter: WatchFilter,
    bookmarks: bool,
    interval: Duration,
    timeout: Option<Duration>,
    last_rv: u64,
    close_rx: watch::Receiver<u64>,
    stop_rx: watch::Receiver<u64>,
}

impl WatchTask {
    async fn run(mut self, initial: Vec<Bytes>) {
        self.stream(initial).await;
        self.shared.lock().open_watches -= 1;
    }

    async fn stream(&mut self, initial: Vec<Bytes>) {
        for line in initial {
            if self.tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut tick = tokio::time::interval_at(Instant::now() + self.interval, self.interval);
        loop {
            tokio::select! {
                r = self.sub.recv() => match r {
                    Ok(ev) => {
                        self.last_rv = ev.rv;
                        if let Some(line) = self.filter.line(&ev)
                            && self.tx.send(line).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(_) => return, // lagged or closed: end the stream, the client re-watches
                },
                _ = tick.tick(), if self.bookmarks => {
                    if self.tx.send(bookmark(&self.def, self.last_rv, false)).await.is_err() {
                        return;
                    }
                }
                _ = self.close_rx.changed() => return,
                _ = self.stop_rx.changed() => return,
                _ = sleep_until_opt(deadline) => return,
                _ = self.tx.closed() => return,
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn discovery(shared: &Arc<Shared>, path: &str, accept: &str) -> Resp {
    let st = shared.lock();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let (["api"] | ["apis"], Some(v)) = (segs.as_slice(), aggregated_version(&st, accept)) {
        return aggregated(&st, segs[0] == "api", v);
    }
    let group_versions = |group: &str| -> Vec<String> { versions_of(&st, group) };
    let group_doc = |g: &str| -> Value {
        let vs = group_versions(g);
        let versions: Vec<Value> = vs
            .iter()
            .map(|v| json!({ "groupVersion": format!("{g}/{v}"), "version": v }))
            .collect();
        json!({
            "name": g,
            "versions": versions,
            "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
        })
    };
    match segs.as_slice() {
        ["version"] => json_response(
            200,
            &json!({
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-testkit",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }),
        ),
        ["healthz"] | ["readyz"] | ["livez"] => {
            let mut r = Response::new(Body::Full(Some(Bytes::from_static(b"ok"))));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        ["api"] => json_response(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    { "clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", shared.port) }
                ],
            }),
        ),
        ["apis"] => {
            let mut groups: Vec<String> = st
                .resources
                .iter()
                .filter(|d| !d.group.is_empty())
                .map(|d| d.group.clone())
                .collect();
            groups.sort();
            groups.dedup();
            let docs: Vec<Value> = groups.iter().map(|g| group_doc(g)).collect();
            json_response(
                200,
                &json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": docs }),
            )
        }
        ["apis", g] if !group_versions(g).is_empty() => {
            let mut doc = group_doc(g);
            doc["kind"] = "APIGroup".into();
            doc["apiVersion"] = "v1".into();
            json_response(200, &doc)
        }
        ["openapi", "v3"] => openapi_root(&st),
        ["openapi", "v3", "api", v] if st.serves_group_version("", v) => openapi_gv(&st, "", v),
        ["openapi", "v3", "apis", g, v] if st.serves_group_version(g, v) => openapi_gv(&st, g, v),
        ["api", v] if st.serves_group_version("", v) => resource_list(&st, "", v),
        ["apis", g, v] if st.serves_group_version(g, v) => resource_list(&st, g, v),
        _ => text_404(),
    }
}

fn resource_list(st: &State, group: &str, version: &str) -> Resp {
    let mut resources = Vec::new();
    if group.is_empty() && version == "v1" {
        resources.push(json!({
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": false,
            "kind": "Namespace",
            "verbs": ["get", "list"],
            "shortNames": ["ns"],
        }));
    }
    for d in st
        .resources
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        resources.push(json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": d.short_names,
        }));
        if d.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json_response(
        200,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }),
    )
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Hash of the served types, so clients caching OpenAPI documents by hash notice changes.
fn types_hash(st: &State) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for d in &st.resources {
        for b in format!("{}/{}/{}/{};", d.group, d.version, d.kind, d.plural).bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016X}")
}

/// A minimal OpenAPI v3 root: one document per group/version.
fn openapi_root(st: &State) -> Resp {
    let mut paths = serde_json::Map::new();
    let hash = types_hash(st);
    for d in &st.resources {
        let p = gv_path(&d.group, &d.version);
        paths.insert(
            p.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}") }),
        );
    }
    json_response(200, &json!({ "paths": paths }))
}

/// A minimal OpenAPI v3 document for one group/version: just enough for kubectl to see
/// that the server accepts `fieldValidation` (so it validates server-side, needing no schema).
fn openapi_gv(st: &State, group: &str, version: &str) -> Resp {
    let mut paths = serde_json::Map::new();
    let params = json!([
        { "name": "dryRun", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
        { "name": "fieldManager", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
        { "name": "fieldValidation", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
    ]);
    for d in st
        .resources
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let gvk = json!({ "group": d.group, "version": d.version, "kind": d.kind });
        let base = if d.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                d.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), d.plural)
        };
        let op = |id: &str| {
            json!({
                "operationId": format!("{id}{}", d.kind),
                "parameters": params,
                "responses": { "200": { "description": "OK" } },
                "x-kubernetes-action": id,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        paths.insert(base.clone(), json!({ "post": op("post") }));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({ "put": op("put"), "patch": op("patch") }),
        );
    }
    json_response(
        200,
        &json!({
            "openapi": "3.0.0",
            "info": { "title": "Kubernetes (testkit)", "version": "v1.32.0" },
            "paths": paths,
            "components": { "schemas": {} },
        }),
    )
}

/// The aggregated discovery version `accept` asks for (`v2`, else `v2beta1`), when the server
/// offers aggregated discovery (`ApiServer::set_aggregated_discovery`, on by default).
fn aggregated_version(st: &State, accept: &str) -> Option<&'static str> {
    if !st.aggregated_discovery {
        return None;
    }
    let asks = |v: &str| {
        accept.split(',').any(|m| {
            let params: Vec<&str> = m.split(';').map(str::trim).collect();
            params.contains(&"g=apidiscovery.k8s.io")
                && params.contains(&format!("v={v}").as_str())
                && params.contains(&"as=APIGroupDiscoveryList")
        })
    };
    ["v2", "v2beta1"].into_iter().find(|v| asks(v))
}

/// The versions of `group`, in the order their types were registered (the first is the
/// preferred one).
fn versions_of(st: &State, group: &str) -> Vec<String> {
    let mut vs: Vec<String> = Vec::new();
    for d in st.resources.iter().filter(|d| d.group == group) {
        if !vs.contains(&d.version) {
            vs.push(d.version.clone());
        }
    }
    vs
}

/// `/api` (`core`) or `/apis` as an `APIGroupDiscoveryList` (aggregated discovery, as
/// Kubernetes 1.26+ serves it): every group, version and resource in one answer.
fn aggregated(st: &State, core: bool, version: &str) -> Resp {
    let mut groups: Vec<String> = Vec::new();
    for d in &st.resources {
        if d.group.is_empty() == core && !groups.contains(&d.group) {
            groups.push(d.group.clone());
        }
    }
    if core && groups.is_empty() {
        groups.push(String::new());
    }
    if !core {
        groups.sort();
    }
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let versions: Vec<Value> = versions_of(st, g)
                .iter()
                .map(|v| {
                    let mut resources: Vec<Value> = Vec::new();
                    if g.is_empty() && v == "v1" {
                        resources.push(json!({
                            "resource": "namespaces",
                            "responseKind": { "group": "", "version": "v1", "kind": "Namespace" },
                            "scope": "Cluster",
                            "singularResource": "namespace",
                            "verbs": ["get", "list"],
                            "shortNames": ["ns"],
                        }));
                    }
                    for d in st.resources.iter().filter(|d| d.group == *g && d.version == *v) {
                        let kind = json!({ "group": d.group, "version": d.version, "kind": d.kind });
                        let mut r = json!({
                            "resource": d.plural,
                            "responseKind": kind,
                            "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": d.singular,
                            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                        });
                        if !d.short_names.is_empty() {
                            r["shortNames"] = json!(d.short_names);
                        }
                        if d.status_subresource {
                            r["subresources"] = json!([{
                                "subresource": "status",
                                "responseKind": kind,
                                "verbs": ["get", "patch", "update"],
                            }]);
                        }
                        resources.push(r);
                    }
                    json!({ "version": v, "resources": resources, "freshness": "Current" })
                })
                .collect();
            let mut metadata = json!({ "creationTimestamp": null });
            if !g.is_empty() {
                metadata["name"] = json!(g);
            }
            json!({ "metadata": metadata, "versions": versions })
        })
        .collect();
    let mut r = json_response(
        200,
        &json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": items,
        }),
    );
    if let Ok(ct) = HeaderValue::from_str(&format!(
        "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    )) {
        r.headers_mut().insert(CONTENT_TYPE, ct);
    }
    r
}
