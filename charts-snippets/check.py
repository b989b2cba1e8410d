#!/usr/bin/env python3
"""Checks for charts-snippets/ (run by ci.sh; see README.md "CI").

For every example (and the test chart tests/matrix):
  1. helm lint --strict + helm template (Helm charts) or kubectl kustomize (plain manifests);
  2. every rendered object validated offline against the Kubernetes OpenAPI schemas
     (kubernetes-validate, strict, bundled schemas, oldest and newest version we support);
  3. every kwait init container: hardened securityContext, FallbackToLogsOnError, pinned
     image, no secret header in argv, volume mounts that exist; its args exactly those in the
     example's expect.yaml, and a valid kwait command line by the CLI contract (one target, or
     several joined by `--and`: global options before the first subcommand, -n per segment);
  4. the real kwait binary: `--dry-run` accepts each args list (with stand-ins for the files
     from mounted volumes) and lists every target; run with the pod's own paths, which do not
     exist here, it names them in `kwait: note:` lines instead of failing; `--dry-run=rbac`
     prints one Role per namespace whose targets need rules (and one ClusterRole for
     cluster-scoped wait-ready types), merged as kwait.rbac merges them, holding the
     contract's rules for the targets in that namespace;
  5. RBAC: for each ServiceAccount, the kwait Roles (and ClusterRoles) bound to it hold every
     rule its pods' waits need (as kwait itself says), nothing beyond the optional explain rules, and exactly
     the rules in expect.yaml;
then every tests/bad-values/*.yaml must make `helm lint --strict` and `helm template` fail
with the message its "# expect:" line names.

Usage: check.py --helm H --kubectl K [--kwait BIN | --no-kwait]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError

HERE = os.path.dirname(os.path.abspath(__file__))
K8S_VERSIONS = ["1.30.0", "1.37.0"]
RELEASE, NAMESPACE = "demo", "demo"

HARDENED = {
    "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
    "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "privileged": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "api-key")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}

failures = []
counts = {}


def fail(msg):
    failures.append(msg)
    print("  FAIL " + msg)


def count(what, n=1):
    counts[what] = counts.get(what, 0) + n


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- the CLI contract
GLOBAL_WITH_VALUE = {"--timeout", "--interval", "--max-interval", "--attempt-timeout",
                     "-n", "--namespace", "--log-format", "--termination-log", "--kubeconfig", "--context"}
GLOBAL_FLAGS = {"-q", "--quiet", "-v", "--verbose"}
COMMANDS = {
    # command: (options with a value, flags)
    "wait-secret": ({"--key"}, set()),
    "wait-certificate": ({"--secret-name"}, {"--no-secret-check"}),
    "wait-job": ({"-l", "--selector", "--if-missing"}, {"--all"}),
    "wait-http": ({"--status", "--body-contains", "--body-regex", "--json-path", "--equals", "--header",
                   "--header-file", "--method", "--ca-cert", "--service"},
                  {"--insecure-skip-tls-verify", "--no-follow-redirects"}),
    "wait-tcp": ({"--send", "--expect", "--service"}, set()),
    "wait-configmap": ({"--key"}, set()),
    "wait-service": ({"--port", "--min-ready"}, set()),
    "wait-ready": ({"-l", "--selector", "--condition", "--json-path", "--equals"}, {"--any"}),
    "wait-deleted": ({"-l", "--selector"}, {"--any"}),
    "wait-postgres": ({"--user", "--database", "--password-file", "--ca-cert"}, {"--tls", "--insecure-skip-tls-verify"}),
    "wait-redis": ({"--user", "--password-file", "--ca-cert"}, {"--tls", "--insecure-skip-tls-verify"}),
    "wait-nats": ({"--user", "--password-file", "--token-file", "--ca-cert"}, {"--tls", "--insecure-skip-tls-verify"}),
    "wait-rabbitmq": ({"--user", "--password-file", "--vhost", "--ca-cert"}, {"--tls", "--insecure-skip-tls-verify"}),
    "wait-mysql": ({"--user", "--database", "--password-file", "--ca-cert"}, {"--tls", "--insecure-skip-tls-verify"}),
    "wait-dns": ({"--type", "--min"}, set()),
    "wait-file": ({"--contains"}, {"--nonempty"}),
}

# The types wait-ready knows without the server (src/plan/kinds.rs): (group, plural, kind,
# namespaced, short names). Any other type must be PLURAL.GROUP, taken as namespaced;
# anything else makes `kwait --dry-run=rbac` exit 2. A cluster-scoped type is granted by a
# ClusterRole: its rules are keyed by CLUSTER instead of a namespace.
KINDS = [
    ("", "pods", "Pod", True, ["po"]),
    ("", "services", "Service", True, ["svc"]),
    ("", "persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
    ("", "persistentvolumes", "PersistentVolume", False, ["pv"]),
    ("", "configmaps", "ConfigMap", True, ["cm"]),
    ("", "secrets", "Secret", True, []),
    ("", "serviceaccounts", "ServiceAccount", True, ["sa"]),
    ("", "namespaces", "Namespace", False, ["ns"]),
    ("", "nodes", "Node", False, ["no"]),
    ("", "replicationcontrollers", "ReplicationController", True, ["rc"]),
    ("apps", "deployments", "Deployment", True, ["deploy"]),
    ("apps", "statefulsets", "StatefulSet", True, ["sts"]),
    ("apps", "daemonsets", "DaemonSet", True, ["ds"]),
    ("apps", "replicasets", "ReplicaSet", True, ["rs"]),
    ("batch", "jobs", "Job", True, []),
    ("batch", "cronjobs", "CronJob", True, ["cj"]),
    ("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"]),
    ("apiregistration.k8s.io", "apiservices", "APIService", False, []),
    ("storage.k8s.io", "storageclasses", "StorageClass", False, ["sc"]),
    ("policy", "poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"]),
    ("networking.k8s.io", "ingresses", "Ingress", True, ["ing"]),
    ("cert-manager.io", "certificates", "Certificate", True, ["cert", "certs"]),
    ("cert-manager.io", "issuers", "Issuer", True, []),
    ("cert-manager.io", "clusterissuers", "ClusterIssuer", False, []),
    ("helm.toolkit.fluxcd.io", "helmreleases", "HelmRelease", True, ["hr"]),
    ("kustomize.toolkit.fluxcd.io", "kustomizations", "Kustomization", True, ["ks"]),
    ("source.toolkit.fluxcd.io", "gitrepositories", "GitRepository", True, ["gitrepo"]),
    ("source.toolkit.fluxcd.io", "helmrepositories", "HelmRepository", True, ["helmrepo"]),
    ("source.toolkit.fluxcd.io", "ocirepositories", "OCIRepository", True, ["ocirepo"]),
    ("source.toolkit.fluxcd.io", "helmcharts", "HelmChart", True, ["hc"]),
]
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
CLUSTER = "ClusterRole"  # the key of cluster-scoped rules (no namespace is spelled so)
VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")


def ready_type(kind):
    """(group, plural, namespaced) of wait-ready's KIND as kwait knows it before contacting
    anything: from KINDS (plural, singular, kind or short name, optionally .GROUP or
    .VERSION.GROUP), else PLURAL.GROUP (namespaced). ValueError otherwise."""
    lower = kind.lower()
    head, _, rest = lower.partition(".")
    group = None
    if rest:
        v, _, g = rest.partition(".")
        group = g if (g and VERSION.match(v)) else ("" if VERSION.match(rest) else rest)
    for g, plural, k, namespaced, short in KINDS:
        if (group is None or group == g) and head in [plural, k.lower()] + short:
            return g, plural, namespaced
    if rest:
        v, _, g = rest.partition(".")
        return (g if (g and VERSION.match(v)) else rest), head, True
    raise ValueError("wait-ready type %r is neither a type kwait knows nor PLURAL.GROUP "
                     "(kwait --dry-run=rbac could not name its RBAC)" % kind)


def parse_contract(args, globals_inside=True):
    """Parse one target's command line (a subcommand and its options) by the contract in
    DESIGN.md; return (cmd, positionals, opts). With globals_inside=False (a segment of a
    `--and` command line) only -n/--namespace may follow the subcommand."""
    if not args or args[0] not in COMMANDS:
        raise ValueError("first arg must be a command, got %r" % (args[:1],))
    cmd, (with_value, flags) = args[0], COMMANDS[args[0]]
    pos, opts, i = [], {}, 1
    while i < len(args):
        a = args[i]
        if not globals_inside and (a in GLOBAL_WITH_VALUE or a in GLOBAL_FLAGS) and a not in ("-n", "--namespace"):
            raise ValueError("global option %s inside the segment of %s: with --and, global options "
                             "go before the first subcommand (only -n/--namespace may follow one)" % (a, cmd))
        if a in with_value or a in GLOBAL_WITH_VALUE:
            if i + 1 >= len(args):
                raise ValueError("%s needs a value" % a)
            opts.setdefault(a, []).append(args[i + 1])
            i += 2
        elif a in flags or a in GLOBAL_FLAGS:
            opts.setdefault(a, []).append(True)
            i += 1
        elif a.startswith("-"):
            raise ValueError("unknown option %s for %s" % (a, cmd))
        else:
            pos.append(a)
            i += 1
    sel = opts.get("-l", []) + opts.get("--selector", [])
    want_pos = 0 if (cmd == "wait-job" and sel) else 1
    if len(pos) != want_pos:
        raise ValueError("%s takes %d positional argument(s), got %r" % (cmd, want_pos, pos))
    if cmd in ("wait-ready", "wait-deleted"):
        if sel and "/" in pos[0]:
            raise ValueError("%s takes KIND/NAME or KIND -l SELECTOR, not both" % cmd)
        if not sel and not re.match(r"^[^/]+/[^/]+$", pos[0]):
            raise ValueError("%s needs KIND/NAME, or KIND with -l" % cmd)
        ready_type(pos[0].split("/")[0])
        if "--any" in opts and not sel:
            raise ValueError("--any needs -l")
        if "--condition" in opts and "--json-path" in opts:
            raise ValueError("--condition and --json-path exclude each other")
    if cmd in ("wait-postgres", "wait-redis", "wait-mysql"):
        if ("--ca-cert" in opts or "--insecure-skip-tls-verify" in opts) and "--tls" not in opts:
            raise ValueError("--ca-cert and --insecure-skip-tls-verify need --tls")
    if cmd == "wait-redis" and "--user" in opts and "--password-file" not in opts:
        raise ValueError("wait-redis --user needs --password-file")
    if cmd in ("wait-nats", "wait-rabbitmq"):
        amqps = cmd == "wait-rabbitmq" and pos[0].lower().startswith("amqps://")
        if ("--ca-cert" in opts or "--insecure-skip-tls-verify" in opts) and "--tls" not in opts and not amqps:
            raise ValueError("--ca-cert and --insecure-skip-tls-verify need --tls")
        user = "--user" in opts or re.match(r"^[a-zA-Z]+://[^/@]+@", pos[0])
        if user and "--password-file" not in opts:
            raise ValueError("%s: a user needs --password-file" % cmd)
        if "--password-file" in opts and not user:
            raise ValueError("%s --password-file needs a user" % cmd)
        if "--token-file" in opts and (user or "--password-file" in opts):
            raise ValueError("wait-nats --token-file logs in alone")
        if "--vhost" in opts and "--password-file" not in opts:
            raise ValueError("wait-rabbitmq --vhost needs --password-file")
    if cmd == "wait-mysql" and ("--user" not in opts or "--password-file" not in opts):
        raise ValueError("wait-mysql needs --user and --password-file")
    if cmd == "wait-dns" and "--type" in opts and opts["--type"][-1].upper() not in ("A", "AAAA", "SRV"):
        raise ValueError("wait-dns --type must be A, AAAA or SRV")
    if cmd == "wait-tcp" and "--send" in opts and "--expect" not in opts:
        raise ValueError("wait-tcp --send needs --expect")
    if "--service" in opts and not DNS1035.match(opts["--service"][-1]):
        raise ValueError("--service %r is not a Service name (a DNS-1035 label)" % opts["--service"][-1])
    if cmd == "wait-service" and "--min-ready" in opts and not re.match(r"^[1-9][0-9]*$", opts["--min-ready"][-1]):
        raise ValueError("--min-ready must be a positive number")
    if "--if-missing" in opts and opts["--if-missing"][-1] not in ("wait", "succeed", "fail"):
        raise ValueError("--if-missing must be wait, succeed or fail")
    if "--all" in opts and not sel:
        raise ValueError("--all needs -l")
    if "--body-contains" in opts and "--body-regex" in opts:
        raise ValueError("--body-contains and --body-regex exclude each other")
    if "--json-path" in opts and ("--body-contains" in opts or "--body-regex" in opts):
        raise ValueError("--json-path excludes --body-contains and --body-regex")
    if (opts.get("--method") or [""])[-1].upper() == "HEAD" and (
            {"--body-contains", "--body-regex", "--json-path"} & set(opts)):
        raise ValueError("--method HEAD gets no body to check")
    if "--ca-cert" in opts and "--insecure-skip-tls-verify" in opts:
        raise ValueError("--ca-cert and --insecure-skip-tls-verify exclude each other")
    if "--equals" in opts and "--json-path" not in opts:
        raise ValueError("--equals needs --json-path")
    if "--secret-name" in opts and "--no-secret-check" in opts:
        raise ValueError("--secret-name and --no-secret-check exclude each other")
    return cmd, pos, opts


def parse_command_line(args):
    """Parse a whole kwait command line: global options, then one target, or several joined by
    a standalone `--and` (DESIGN.md "Several dependencies in one run"). Returns
    (global opts, [(cmd, positionals, opts) per target])."""
    glob, i = {}, 0
    while i < len(args) and args[i] not in COMMANDS:
        a = args[i]
        if a in GLOBAL_WITH_VALUE:
            if i + 1 >= len(args):
                raise ValueError("%s needs a value" % a)
            glob.setdefault(a, []).append(args[i + 1])
            i += 2
        elif a in GLOBAL_FLAGS:
            glob.setdefault(a, []).append(True)
            i += 1
        else:
            raise ValueError("expected a global option or a command, got %r" % a)
    segments, cur = [], []
    for a in args[i:]:
        if a == "--and":
            segments.append(cur)
            cur = []
        else:
            cur.append(a)
    segments.append(cur)
    if any(not seg for seg in segments):
        raise ValueError("--and at the start or end, or doubled: every --and joins two subcommands")
    several = len(segments) > 1
    return glob, [parse_contract(seg, globals_inside=not several) for seg in segments]


def target_namespace(glob, opts, default):
    """The namespace one target uses: its own -n, else the global -n, else the default."""
    for o in (opts, glob):
        v = (o.get("-n") or []) + (o.get("--namespace") or [])
        if v:
            return v[-1]
    return default


def contract_rules(args, default_ns, events_ns=None):
    """{namespace: (required, optional)} RBAC rules for a kwait command line (one target or
    several), as the contract states them; namespaces whose targets need no rule are absent;
    rules on cluster-scoped types are under CLUSTER (a ClusterRole). With events_ns (the pod's
    namespace, when the pod records Events), the optional create/patch on events there."""
    glob, targets = parse_command_line(args)
    out = {}
    if events_ns:
        out.setdefault(events_ns, ([], []))[1].append(EVENTS_RULE)
    for cmd, pos, opts in targets:
        req, opt = target_rules(cmd, pos, opts)
        for r, which in [(r, 0) for r in req] + [(r, 1) for r in opt]:
            ns = CLUSTER if r.pop("cluster", False) else target_namespace(glob, opts, default_ns)
            out.setdefault(ns, ([], []))[which].append(r)
    return out


def target_rules(cmd, pos, opts):
    """(required, optional) RBAC rules for one target."""
    req, opt = [], []
    if cmd == "wait-secret":
        req.append(rule("", "secrets", ["get", "watch"], pos))
    elif cmd == "wait-certificate":
        req.append(rule("cert-manager.io", "certificates", ["get", "watch"], pos))
        if "--no-secret-check" not in opts and "--secret-name" in opts:
            req.append(rule("", "secrets", ["get"], opts["--secret-name"][-1:]))
        opt.append(rule("cert-manager.io", "certificaterequests", ["list"]))
    elif cmd == "wait-job":
        if pos:
            req.append(rule("batch", "jobs", ["get", "watch"], pos))
        else:
            req.append(rule("batch", "jobs", ["list", "watch"]))
        opt.append(rule("", "pods", ["list"]))
        opt.append(rule("", "events", ["list"]))
    elif cmd == "wait-configmap":
        req.append(rule("", "configmaps", ["get", "watch"], pos))
    elif cmd == "wait-service":
        req.append(rule("", "services", ["get", "watch"], pos))
        req.append(rule("discovery.k8s.io", "endpointslices", ["list", "watch"]))
        opt.append(rule("", "pods", ["list"]))
    elif cmd in ("wait-ready", "wait-deleted"):
        # wait-deleted needs what wait-ready needs: the object by name, or list by label
        kind, _, name = pos[0].partition("/")
        group, plural, namespaced = ready_type(kind)
        if name:
            r = rule(group, plural, ["get", "watch"], [name])
        else:
            r = rule(group, plural, ["list", "watch"])
        r["cluster"] = not namespaced
        req.append(r)
    elif cmd in ("wait-http", "wait-tcp") and "--service" in opts:
        # the Service's EndpointSlices, found by label: RBAC cannot name them
        req.append(rule("discovery.k8s.io", "endpointslices", ["list", "watch"]))
    # wait-http, wait-tcp (without --service), wait-postgres, wait-redis, wait-nats,
    # wait-rabbitmq, wait-mysql, wait-dns, wait-file: no Kubernetes object, no rule
    return req, opt


# Events on the waiting pod (kwait records them when POD_NAME and POD_NAMESPACE are set).
EVENTS_RULE = {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}


def rule(group, resource, verbs, names=None):
    r = {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
    if names:
        r["resourceNames"] = list(names)
    return r


def tuples(rules):
    """Expand RBAC rules into a set of (apiGroup, resource, name or '*', verb)."""
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    for n in r.get("resourceNames") or ["*"]:
                        out.add((g, res, n, v))
    return out


def shape(rules):
    """Rules as a set of (groups, resources, verbs, names): their structure, order aside."""
    return {(tuple(r.get("apiGroups") or []), tuple(r.get("resources") or []), tuple(sorted(r.get("verbs") or [])),
             tuple(sorted(r.get("resourceNames") or []))) for r in rules}


def fmt(ts):
    return ", ".join("%s %s%s%s" % (v, r, "." + g if g else "", "/" + n if n != "*" else "")
                     for g, r, n, v in sorted(ts)) or "(none)"


# ---------------------------------------------------------------- kwait binary
class Kwait:
    def __init__(self, path):
        self.path = path
        self.cache = {}

    def _run(self, flag, args, ns, events_ns=None):
        # as in the pod: POD_NAMESPACE where the chart sets it (Events on), else no Events
        env = dict(os.environ, KWAIT_NAMESPACE=ns)
        env.pop("POD_NAMESPACE", None)
        if events_ns:
            env["POD_NAMESPACE"] = events_ns
        else:
            env["KWAIT_NO_EVENTS"] = "true"
        r = run([self.path, flag] + args, env=env, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("kwait %s %s: exit %d: %s" % (flag, " ".join(args), r.returncode,
                                                            (r.stderr or r.stdout).strip()[:400]))
        return r.stdout + r.stderr

    def dry_run(self, args, ns, targets, pod_args=None, absent=(), events_ns=None):
        """Run --dry-run and --dry-run=rbac on args (files from mounted volumes replaced by
        stand-ins); return {namespace: rules} of the printed Roles (one, with no rules, when no
        target needs any). With pod_args (the args as the pod runs them),
        also run --dry-run on those: the files that are absent here (`absent`) must be named
        in a `kwait: note:` line, not fail the run (the pod will have them)."""
        out = self._run("--dry-run", args, ns, events_ns)
        if targets > 1:
            head = "kwait: would wait for %d targets at once" % targets
            if not any(line.startswith(head) for line in out.splitlines()):
                raise RuntimeError("kwait --dry-run %s: no line %r in:\n%s" % (" ".join(args), head, out[:600]))
            listed = [line for line in out.splitlines() if re.match(r"^kwait:   \d+\. ", line)]
            if len(listed) != targets:
                raise RuntimeError("kwait --dry-run %s: %d targets listed, expected %d:\n%s" % (
                    " ".join(args), len(listed), targets, out[:600]))
        if pod_args is not None and absent:
            out = self._run("--dry-run", pod_args, ns, events_ns)
            notes = [line for line in out.splitlines() if line.startswith("kwait: note:")]
            for path in absent:
                if not any(path in n for n in notes):
                    raise RuntimeError("kwait --dry-run %s: no 'kwait: note:' line names the absent %s:\n%s" % (
                        " ".join(pod_args), path, out[:600]))
        out = self._run("--dry-run=rbac", args, ns, events_ns)
        where = "kwait --dry-run=rbac %s" % " ".join(args)
        docs = [d for d in yaml.safe_load_all(out) if d]
        roles = [d for d in docs if d.get("kind") in ("Role", "ClusterRole")]
        if len(roles) != len(docs) or not roles:
            raise RuntimeError("%s: expected only Roles (and a ClusterRole), got %r" % (where, out[:300]))
        by_ns = {}
        for role in roles:
            if role.get("apiVersion") != "rbac.authorization.k8s.io/v1":
                raise RuntimeError("%s: apiVersion %r" % (where, role.get("apiVersion")))
            meta_ns = (role.get("metadata") or {}).get("namespace")
            if role["kind"] == "ClusterRole":
                if meta_ns is not None:
                    raise RuntimeError("%s: a ClusterRole with a namespace (%s)" % (where, meta_ns))
                meta_ns = CLUSTER
            if meta_ns in by_ns:
                raise RuntimeError("%s: two Roles for namespace %r (one per namespace)" % (where, meta_ns))
            rules = role.get("rules") or []
            by_ns[meta_ns] = rules
            # merged as kwait.rbac merges: one rule per (group, resource, verbs, named or not),
            # resource names de-duplicated
            keys = set()
            for r in rules:
                names = r.get("resourceNames") or []
                key = (tuple(r.get("apiGroups") or []), tuple(r.get("resources") or []),
                       tuple(r.get("verbs") or []), bool(names))
                if key in keys:
                    raise RuntimeError("%s: Role in %s has two rules for %r: not merged" % (where, meta_ns, key))
                keys.add(key)
                if len(set(names)) != len(names):
                    raise RuntimeError("%s: Role in %s repeats a resource name: %r" % (where, meta_ns, names))
        if len(roles) > 1 and any(not rules for rules in by_ns.values()):
            raise RuntimeError("%s: a Role without rules among several (targets needing none add nothing)" % where)
        return by_ns


# ---------------------------------------------------------------- rendering
def helm_env(tmp):
    return dict(os.environ, HELM_CACHE_HOME=os.path.join(tmp, "cache"),
                HELM_CONFIG_HOME=os.path.join(tmp, "config"), HELM_DATA_HOME=os.path.join(tmp, "data"))


def render_helm(helm, chart, env, extra=()):
    r = run([helm, "dependency", "update", "--skip-refresh", chart], env=env)
    if r.returncode != 0:
        raise RuntimeError("helm dependency update %s: %s" % (chart, r.stderr.strip()))
    r = run([helm, "lint", "--strict", chart, "--namespace", NAMESPACE] + list(extra), env=env)
    if r.returncode != 0:
        raise RuntimeError("helm lint --strict %s:\n%s%s" % (chart, r.stdout, r.stderr))
    r = run([helm, "template", RELEASE, chart, "--namespace", NAMESPACE] + list(extra), env=env)
    if r.returncode != 0:
        raise RuntimeError("helm template %s: %s" % (chart, r.stderr.strip()))
    return r.stdout


def pod_spec(obj):
    if obj.get("kind") == "Pod":
        return obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj.get("kind") in WORKLOADS:
        return obj["spec"]["template"]["spec"]
    return None


FILE_OPTIONS = {  # options that name a file, and stand-in content for the dry run
    "--header-file": "X-Kwait-Check: stand-in\n",
    "--ca-cert": "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n",
    "--password-file": "stand-in-password\n",
}


def volume_files(spec, name):
    """Relative paths a secret/configMap/projected volume provides, or None if it can't be known."""
    vol = next((v for v in spec.get("volumes") or [] if v["name"] == name), None)
    if vol is None:
        return set()
    sources = []
    if "projected" in vol:
        sources = [s.get("secret") or s.get("configMap") for s in vol["projected"].get("sources") or []]
    elif "secret" in vol or "configMap" in vol:
        sources = [vol.get("secret") or vol.get("configMap")]
    out = set()
    for s in sources:
        if not s or not s.get("items"):
            return None
        out |= {i["path"] for i in s["items"]}
    return out


def is_kwait(c):
    img = c.get("image", "")
    return img.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1] == "kwait"


# ---------------------------------------------------------------- one example
def check_objects(label, docs, expect, kwait, scratch):
    ns_default = expect.get("namespace", NAMESPACE)

    # 2. Kubernetes schemas
    skipped = set()
    for d in docs:
        for v in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(d, v, strict=True)
                count("objects validated against Kubernetes %s" % v)
            except SchemaNotFoundError:
                skipped.add("%s %s" % (d.get("apiVersion"), d.get("kind")))
            except kubernetes_validate.ValidationError as e:
                fail("%s: %s/%s invalid for Kubernetes %s: %s at %s" % (
                    label, d.get("kind"), d["metadata"].get("name"), v, e.message, "/".join(map(str, e.path))))
    for s in sorted(skipped):
        print("  note %s: no bundled schema for %s (a CRD), not validated" % (label, s))

    # 3. kwait containers
    seen = {}
    pods_by_sa = {}   # (ns of the targets, ns of the pod, sa) -> [(container key, required, optional, from kwait)]
    for d in docs:
        spec = pod_spec(d)
        if spec is None:
            continue
        obj_ns = d["metadata"].get("namespace", ns_default)
        vols = {v["name"] for v in spec.get("volumes") or []}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            for m in c.get("volumeMounts") or []:
                if m["name"] not in vols:
                    fail("%s: %s/%s container %s mounts volume %r the pod does not have" % (
                        label, d["kind"], d["metadata"]["name"], c["name"], m["name"]))
        for c in spec.get("containers") or []:
            if is_kwait(c):
                fail("%s: %s/%s runs kwait as a regular container, expected an init container" % (
                    label, d["kind"], d["metadata"]["name"]))
        for c in spec.get("initContainers") or []:
            if not is_kwait(c):
                continue
            key = "%s/%s/%s" % (d["kind"], d["metadata"]["name"], c["name"])
            args = c.get("args") or []
            seen[key] = args
            count("kwait init containers checked")
            if c.get("command"):
                fail("%s: %s sets command; the image's entrypoint is kwait" % (label, key))
            if c.get("securityContext") != HARDENED:
                fail("%s: %s securityContext is %r, expected %r" % (label, key, c.get("securityContext"), HARDENED))
            if c.get("terminationMessagePolicy") != "FallbackToLogsOnError":
                fail("%s: %s terminationMessagePolicy is not FallbackToLogsOnError" % (label, key))
            img = c.get("image", "")
            if not ("@sha256:" in img or ":" in img.rsplit("/", 1)[-1]) or img.endswith(":latest"):
                fail("%s: %s image %r is not pinned to a tag or digest" % (label, key, img))
            if not (c.get("resources") or {}).get("limits", {}).get("memory"):
                fail("%s: %s has no memory limit" % (label, key))
            for i, a in enumerate(args):
                if a == "--header" and i + 1 < len(args) and args[i + 1].split(":")[0].strip().lower() in SECRET_HEADERS:
                    fail("%s: %s passes a secret header in argv; use --header-file" % (label, key))
            # files from mounted volumes (--header-file, --ca-cert): the volume must provide
            # them; for the dry run they are stand-ins under a scratch directory (kwait reads them)
            run_args = list(args)
            for i, a in enumerate(args[:-1]):
                if a not in FILE_OPTIONS:
                    continue
                path = args[i + 1]
                mount = next((m for m in c.get("volumeMounts") or []
                              if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
                if mount is None:
                    fail("%s: %s %s %s is not in a mounted volume" % (label, key, a, path))
                    continue
                rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
                provided = volume_files(spec, mount["name"])
                if provided is not None and rel not in provided:
                    fail("%s: %s %s %s: volume %s provides only %s" % (label, key, a, path, mount["name"], sorted(provided)))
                local = os.path.join(scratch, path.lstrip("/"))
                os.makedirs(os.path.dirname(local), exist_ok=True)
                with open(local, "w") as f:
                    f.write(FILE_OPTIONS[a])
                run_args[i + 1] = local
                count("mounted files checked (%s)" % a)
            # the namespace kwait uses for a target without -n of its own
            default_ns = obj_ns
            for e in c.get("env") or []:
                if e["name"] == "KWAIT_NAMESPACE":
                    ref = (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                    default_ns = obj_ns if ref == "metadata.namespace" else (e.get("value") or obj_ns)
            # Events on the pod: the chart sets POD_NAMESPACE from the downward API
            events_ns = None
            for e in c.get("env") or []:
                if e["name"] == "POD_NAMESPACE":
                    ref = (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                    if ref != "metadata.namespace":
                        fail("%s: %s POD_NAMESPACE is not the downward API's metadata.namespace" % (label, key))
                    events_ns = obj_ns
            try:
                glob, targets = parse_command_line(args)
                contract = contract_rules(args, default_ns, events_ns)
            except ValueError as e:
                fail("%s: %s args %r are not a valid kwait command line: %s" % (label, key, args, e))
                continue
            count("args parsed by the CLI contract")
            if len(targets) > 1:
                count("command lines with several targets (--and) parsed")
            # 4. the real binary
            if kwait:
                absent = [args[i + 1] for i, a in enumerate(args[:-1])
                          if a in FILE_OPTIONS and not os.path.exists(args[i + 1])]
                try:
                    got = kwait.dry_run(run_args, default_ns, len(targets), pod_args=args, absent=absent,
                                        events_ns=events_ns)
                    count("args accepted by kwait --dry-run")
                    if len(targets) > 1:
                        count("several targets listed by kwait --dry-run")
                    if absent:
                        count("files absent here named in a kwait --dry-run note")
                    if got and not any(got.values()):
                        # the one `rules: []` Role, in the run's namespace
                        base = target_namespace(glob, {}, default_ns)
                        if set(got) != {base}:
                            raise RuntimeError("kwait --dry-run=rbac: the empty Role is in %s, expected %s" % (
                                sorted(got), base))
                        got = {}
                    if set(got) != set(contract):
                        raise RuntimeError("kwait --dry-run=rbac prints Roles for namespaces %s, the contract needs %s" % (
                            sorted(got), sorted(contract)))
                    for ns in sorted(contract):
                        req, opt = contract[ns]
                        t_got, t_req, t_opt = tuples(got[ns]), tuples(req), tuples(opt)
                        if not (t_req <= t_got <= t_req | t_opt):
                            fail("%s: %s: kwait --dry-run=rbac says [%s] in %s, the contract says [%s] (+ optional [%s])" % (
                                label, key, fmt(t_got), ns, fmt(t_req), fmt(t_opt)))
                        contract[ns] = ([r for r in got[ns] if not (tuples([r]) <= t_opt)], opt, True)
                        count("rule sets compared with kwait --dry-run=rbac")
                    if len(contract) > 1:
                        count("containers whose targets need Roles in several namespaces")
                except RuntimeError as e:
                    fail("%s: %s: %s" % (label, key, e))
            sa = spec.get("serviceAccountName") or "default"
            for ns, (req, opt, *from_kwait) in sorted(contract.items()):
                # a pod that waits for no Kubernetes object may still record Events
                if not req and EVENTS_RULE not in opt:
                    continue
                if req and spec.get("automountServiceAccountToken") is False:
                    fail("%s: %s waits for a Kubernetes object but the pod has no service account token" % (label, key))
                pods_by_sa.setdefault((ns, obj_ns, sa), []).append((key, req, opt, bool(from_kwait)))

    want = expect.get("containers") or {}
    for k in sorted(set(want) - set(seen)):
        fail("%s: expected kwait init container %s was not rendered" % (label, k))
    for k in sorted(set(seen) - set(want)):
        fail("%s: kwait init container %s is not in expect.yaml (args %r)" % (label, k, seen[k]))
    for k in sorted(set(want) & set(seen)):
        if [str(a) for a in want[k]] != seen[k]:
            fail("%s: %s args\n       got  %r\n       want %r" % (label, k, seen[k], want[k]))
        else:
            count("args equal to expect.yaml")

    # 5. RBAC (ClusterRoles and their bindings under the pseudo-namespace CLUSTER)
    seen_names = {}
    def scope(d):
        return CLUSTER if d["kind"].startswith("Cluster") else d["metadata"].get("namespace", ns_default)
    roles = {}
    for d in docs:
        if d.get("kind") not in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            continue
        # one name, one content: applying a second Role of the same name with other rules would
        # silently take the first pod's permissions away (issue #22)
        k = (d["kind"], scope(d), d["metadata"]["name"])
        body = json.dumps({f: d.get(f) for f in ("rules", "roleRef", "subjects")}, sort_keys=True)
        if seen_names.setdefault(k, body) != body:
            fail("%s: two different %s named %s in %s: the second would replace the first" % (
                label, d["kind"], k[2], k[1]))
        else:
            count("RBAC names rendered with one content each")
        if d["kind"] in ("Role", "ClusterRole"):
            roles[(scope(d), d["metadata"]["name"])] = d
    kwait_roles = {k: r for k, r in roles.items()
                   if (r["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "kwait"}
    granted = {}  # (role ns, sa ns, sa) -> tuples from kwait Roles
    granted_all = {}  # same, from any Role (what the pod may really do)
    granted_roles = {}  # same, the kwait Roles themselves
    for d in docs:
        if d.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        rns = scope(d)
        ref = d["roleRef"]
        if ref.get("kind") != ("ClusterRole" if rns == CLUSTER else "Role") or (rns, ref["name"]) not in roles:
            fail("%s: RoleBinding %s/%s refers to %s %s that is not rendered" % (label, rns, d["metadata"]["name"],
                                                                                ref.get("kind"), ref["name"]))
            continue
        for s in d.get("subjects") or []:
            if s.get("kind") != "ServiceAccount":
                continue
            k = (rns, s.get("namespace", rns), s["name"])
            if rns == CLUSTER and "namespace" not in s:
                fail("%s: ClusterRoleBinding %s: ServiceAccount subject %s without a namespace" % (
                    label, d["metadata"]["name"], s["name"]))
            t = tuples(roles[(rns, ref["name"])].get("rules"))
            granted_all[k] = granted_all.get(k, set()) | t
            if (rns, ref["name"]) in kwait_roles:
                granted[k] = granted.get(k, set()) | t
                granted_roles.setdefault(k, []).append(roles[(rns, ref["name"])])
    for k, waits in sorted(pods_by_sa.items()):
        need = set().union(*(tuples(r) for _, r, _, _ in waits))
        optional = set().union(*(tuples(o) for _, _, o, _ in waits))
        have_any = granted_all.get(k, set())
        have = granted.get(k, set())
        who = "ServiceAccount %s/%s in namespace %s" % (k[1], k[2], k[0])
        if not need <= have_any:
            fail("%s: %s lacks %s (needed by %s)" % (label, who, fmt(need - have_any), ", ".join(w for w, _, _, _ in waits)))
        if not have <= need | optional:
            fail("%s: %s gets more than kwait needs: %s" % (label, who, fmt(have - need - optional)))
        count("ServiceAccounts whose kwait Roles match kwait's own rules")
        # one container, one kwait Role: kwait.rbac must merge the rules exactly as kwait does
        if len(waits) == 1 and waits[0][3] and len(granted_roles.get(k, [])) == 1:
            role = granted_roles[k][0]
            mine = shape([r for r in role.get("rules") or [] if not tuples([r]) <= optional])
            theirs = shape(waits[0][1])
            if mine != theirs:
                fail("%s: Role %s/%s merges the rules otherwise than kwait --dry-run=rbac:\n       chart %r\n       kwait %r" % (
                    label, k[0], role["metadata"]["name"], sorted(mine), sorted(theirs)))
            else:
                count("Roles merged exactly as kwait --dry-run=rbac merges")
    for (rns, sa_ns, sa), have in granted.items():
        if (rns, sa_ns, sa) not in pods_by_sa:
            fail("%s: kwait Role bound to %s/%s in %s, but no pod of it waits for a Kubernetes object" % (
                label, sa_ns, sa, rns))

    want_roles = expect.get("roles") or {}
    got_roles = {"%s/%s" % k: r for k, r in kwait_roles.items()}
    for k in sorted(set(want_roles) ^ set(got_roles)):
        fail("%s: kwait Role %s is %s" % (label, k, "missing" if k in want_roles else "not in expect.yaml"))
    for k in sorted(set(want_roles) & set(got_roles)):
        got_t, want_t = tuples(got_roles[k].get("rules")), tuples(want_roles[k])
        if got_t != want_t:
            fail("%s: Role %s rules\n       got  [%s]\n       want [%s]" % (label, k, fmt(got_t), fmt(want_t)))
        else:
            count("Roles equal to expect.yaml")


def check_kinds(kwait):
    """The copies of kwait's table of wait-ready types agree: check.py's KINDS with the binary
    (every name of every type, as --dry-run=rbac grants it), and the chart's lists (core
    types, cluster-scoped types, the schema's enum of core types) with KINDS."""
    core = sorted(p for g, p, _, _, _ in KINDS if g == "")
    cluster = sorted("%s/%s" % (g, p) for g, p, _, ns, _ in KINDS if not ns)
    tpl = open(os.path.join(HERE, "kwait", "templates", "_resolve.tpl")).read()

    def tpl_list(var):
        m = re.search(r"\$%s := list ((?:\"[^\"]*\" ?)+)" % var, tpl)
        return sorted(re.findall(r'"([^"]*)"', m.group(1))) if m else None
    for var, want in (("core", core), ("clusterScoped", cluster)):
        got = tpl_list(var)
        if got != want:
            fail("kwait/templates/_resolve.tpl: $%s is %r, kwait's table says %r" % (var, got, want))
        else:
            count("chart type lists equal to kwait's table")
    enums = []

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("enum"), list):
                enums.append(sorted(str(x) for x in o["enum"]))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.load(open(os.path.join(HERE, "kwait", "values.schema.json"))))
    if core not in enums:
        fail("kwait/values.schema.json: no enum of the core types %r" % core)
    else:
        count("chart type lists equal to kwait's table")
    if kwait is None:
        return
    for g, plural, kind, namespaced, short in KINDS:
        names = [plural, kind, kind.lower()] + short + (["%s.%s" % (plural, g)] if g else [])
        for name in names:
            try:
                out = kwait._run("--dry-run=rbac", ["wait-ready", name + "/x"], NAMESPACE)
            except RuntimeError as e:
                fail("kwait's table: %s" % e)
                continue
            docs = [d for d in yaml.safe_load_all(out) if d]
            rules = docs[0].get("rules") or [] if len(docs) == 1 else []
            got = (docs[0].get("kind") if docs else None,
                   [(r.get("apiGroups"), r.get("resources")) for r in rules])
            want = ("Role" if namespaced else "ClusterRole", [([g], [plural])])
            if got != want:
                fail("check.py KINDS disagrees with kwait for wait-ready %s/x: kwait grants %r, KINDS says %r" % (
                    name, got, want))
            else:
                count("wait-ready type names resolved by kwait as KINDS says")
    # not in the table: PLURAL.GROUP is taken as namespaced; a bare name has no RBAC (exit 2)
    try:
        out = kwait._run("--dry-run=rbac", ["wait-ready", "widgets.example.com/x"], NAMESPACE)
        if "kind: Role\n" not in out or '"example.com"' not in out:
            fail("kwait --dry-run=rbac wait-ready widgets.example.com/x: not a Role on example.com:\n" + out)
        else:
            count("wait-ready type names resolved by kwait as KINDS says")
    except RuntimeError as e:
        fail(str(e))
    r = run([kwait.path, "--dry-run=rbac", "wait-ready", "widgets/x"], env=dict(os.environ, KWAIT_NAMESPACE=NAMESPACE))
    if r.returncode != 2:
        fail("kwait --dry-run=rbac wait-ready widgets/x: exit %d, expected 2 (a type kwait cannot name)" % r.returncode)
    else:
        count("wait-ready type names resolved by kwait as KINDS says")


def check_bad_values(helm, env):
    chart = os.path.join(HERE, "tests", "matrix")
    for f in sorted(glob.glob(os.path.join(HERE, "tests", "bad-values", "*.yaml"))):
        name = os.path.relpath(f, HERE)
        want, only = None, None
        for line in open(f):
            if line.startswith("# expect:"):
                want = line.split(":", 1)[1].strip()
            if line.startswith("# only:"):
                only = line.split(":", 1)[1].strip()
        if not want:
            fail("%s has no '# expect:' line" % name)
            continue
        for cmd in (["lint", "--strict", chart], ["template", RELEASE, chart]):
            if only and cmd[0] != only:
                continue
            r = run([helm] + cmd + ["--namespace", NAMESPACE, "-f", f], env=env)
            out = r.stdout + r.stderr
            if r.returncode == 0:
                fail("helm %s -f %s succeeded; expected it to fail with %r" % (cmd[0], name, want))
            elif want not in out:
                fail("helm %s -f %s failed, but without %r:\n%s" % (cmd[0], name, want, out[-600:]))
            else:
                count("bad values rejected (helm %s)" % cmd[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--kwait")
    ap.add_argument("--no-kwait", action="store_true")
    o = ap.parse_args()
    kwait = None if o.no_kwait else Kwait(o.kwait)

    with tempfile.TemporaryDirectory() as tmp:
        env = helm_env(tmp)
        # the library chart itself
        r = run([o.helm, "lint", "--strict", os.path.join(HERE, "kwait")], env=env)
        if r.returncode != 0:
            fail("helm lint --strict kwait:\n" + r.stdout + r.stderr)
        else:
            count("charts linted (helm lint --strict)")
        lib = yaml.safe_load(open(os.path.join(HERE, "kwait", "Chart.yaml")))
        if lib.get("type") != "library":
            fail("kwait/Chart.yaml: type is not library")

        targets = sorted(glob.glob(os.path.join(HERE, "examples", "*"))) + [os.path.join(HERE, "tests", "matrix")]
        for t in targets:
            label = os.path.relpath(t, HERE)
            print("- " + label)
            exp_file = os.path.join(t, "expect.yaml")
            if not os.path.exists(exp_file):
                fail("%s: no expect.yaml" % label)
                continue
            expect = yaml.safe_load(open(exp_file)) or {}
            try:
                if os.path.exists(os.path.join(t, "Chart.yaml")):
                    out = render_helm(o.helm, t, env)
                    count("charts linted (helm lint --strict)")
                    count("charts rendered (helm template)")
                elif os.path.exists(os.path.join(t, "kustomization.yaml")):
                    r = run([o.kubectl, "kustomize", t])
                    if r.returncode != 0:
                        raise RuntimeError("kubectl kustomize %s: %s" % (label, r.stderr.strip()))
                    out = r.stdout
                    count("kustomizations built (kubectl kustomize)")
                else:
                    raise RuntimeError("%s is neither a chart nor a kustomization" % label)
            except RuntimeError as e:
                fail(str(e))
                continue
            docs = [d for d in yaml.safe_load_all(out) if d]
            check_objects(label, docs, expect, kwait, os.path.join(tmp, "files", label))

        print("- kwait's table of wait-ready types")
        check_kinds(kwait)
        print("- tests/bad-values")
        check_bad_values(o.helm, env)

    for k in sorted(counts):
        print("  %4d %s" % (counts[k], k))
    if kwait is None:
        print("  SKIPPED: the kwait binary (--no-kwait): args and rules were checked against the contract only")
    print("charts-snippets: %d passed, %d failed" % (sum(counts.values()), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
