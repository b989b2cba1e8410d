{{/*
kwait.resolve — internal. Turns one wait into a normalized JSON object that every public
template renders from, so container args, RBAC rules and volumes can never disagree.

Parameters (a dict):
  root  the chart's root context ($ / .)
  wait  a key of .Values.kwait.waits, or a dict with the same fields (then `name` is required)
  name  for an inline dict: its id (container kwait-<name>, volume kwait-<name>)

Result (JSON): id, kind, namespace (explicit or ""), args (list: the whole command line of
this wait alone), cmd (list: the subcommand and its own options, without namespace and global
options: one segment of a `--and` command line), opts (the global options set for this wait:
timeout, interval, maxInterval, attemptTimeout, logFormat, as strings), verbose, quiet, env
(list), rules (list of {apiGroups, resources, resourceNames?, verbs, optional, cluster?}: cluster
for a cluster-scoped type, granted by a ClusterRole), volume and
volumeMount (dicts, or absent), containerName, resources.
*/}}
{{- define "kwait.resolve" -}}
{{- $root := required "kwait: parameter `root` (the chart's root context) is required" .root -}}
{{- $g := default dict (index $root.Values "kwait") -}}
{{- $id := "" -}}
{{- $w := dict -}}
{{- if kindIs "string" .wait -}}
  {{- $id = .wait -}}
  {{- $waits := default dict $g.waits -}}
  {{- if not (hasKey $waits $id) -}}
    {{- fail (printf "kwait: no wait %q under .Values.kwait.waits (known: %s)" $id (keys $waits | sortAlpha | join ", ")) -}}
  {{- end -}}
  {{- $w = index $waits $id -}}
{{- else if kindIs "map" .wait -}}
  {{- $id = required "kwait: an inline wait needs parameter `name`" .name -}}
  {{- $w = .wait -}}
{{- else -}}
  {{- fail "kwait: parameter `wait` must be a key of .Values.kwait.waits or a dict" -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$" $id) -}}
  {{- fail (printf "kwait: wait name %q must be lowercase letters, digits and '-' (at most 50), it names a container" $id) -}}
{{- end -}}

{{- /* reject typos in inline dicts too (values are also checked by values.schema.json) */ -}}
{{- $common := list "kind" "containerName" "namespace" "timeout" "interval" "maxInterval" "attemptTimeout" "logFormat" "verbose" "quiet" "explain" "resources" -}}
{{- $perKind := dict
    "secret" (list "name" "keys")
    "certificate" (list "name" "secretName" "secretCheck")
    "job" (list "name" "selector" "all" "ifMissing")
    "http" (list "url" "service" "method" "status" "bodyContains" "bodyRegex" "jsonPath" "equals" "headers" "headerSecret" "caCert" "insecureSkipTlsVerify" "followRedirects")
    "tcp" (list "address" "service" "send" "expect")
    "configmap" (list "name" "keys")
    "service" (list "name" "port" "minReady")
    "ready" (list "resource" "group" "name" "selector" "any" "condition" "jsonPath" "equals")
    "deleted" (list "resource" "group" "name" "selector" "any")
    "postgres" (list "address" "user" "database" "passwordSecret" "tls" "caCert" "insecureSkipTlsVerify")
    "redis" (list "address" "user" "passwordSecret" "tls" "caCert" "insecureSkipTlsVerify")
    "nats" (list "address" "user" "passwordSecret" "tokenSecret" "tls" "caCert" "insecureSkipTlsVerify")
    "rabbitmq" (list "address" "user" "passwordSecret" "vhost" "tls" "caCert" "insecureSkipTlsVerify")
    "mysql" (list "address" "user" "database" "passwordSecret" "tls" "caCert" "insecureSkipTlsVerify")
    "dns" (list "name" "type" "min")
    "file" (list "path" "nonempty" "contains" "volume") -}}
{{- $kinds := "secret, configmap, certificate, job, ready, deleted, service, http, tcp, postgres, redis, nats, rabbitmq, mysql, dns or file" -}}
{{- $kind := required (printf "kwait: wait %q needs `kind` (%s)" $id $kinds) $w.kind -}}
{{- if not (hasKey $perKind $kind) -}}
  {{- fail (printf "kwait: wait %q: unknown kind %q (%s)" $id $kind $kinds) -}}
{{- end -}}
{{- $allowed := concat $common (index $perKind $kind) -}}
{{- range $k, $_ := $w -}}
  {{- if not (has $k $allowed) -}}
    {{- fail (printf "kwait: wait %q (kind %s): unknown field %q (allowed: %s)" $id $kind $k ($allowed | sortAlpha | join ", ")) -}}
  {{- end -}}
{{- end -}}

{{- $explain := true -}}
{{- if hasKey $g "explain" }}{{ $explain = $g.explain }}{{ end -}}
{{- if hasKey $w "explain" }}{{ $explain = $w.explain }}{{ end -}}
{{- $ns := "" -}}
{{- if $w.namespace }}{{ $ns = tpl (toString $w.namespace) $root }}{{ end -}}
{{- $args := list -}}
{{- $rules := list -}}
{{- $projected := list -}}
{{- $mountDir := printf "/etc/kwait/%s" $id -}}
{{- $fileMount := dict -}}
{{- /* http, tcp: `service` (--service NAME): kwait watches that Service's EndpointSlices, found
     by label (RBAC cannot name them), and checks at once when its ready endpoints change */ -}}
{{- $service := "" -}}
{{- if and (has $kind (list "http" "tcp")) (hasKey $w "service") -}}
  {{- $service = tpl (toString $w.service) $root -}}
  {{- if not (regexMatch "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$" $service) -}}
    {{- fail (printf "kwait: wait %q (%s): service %q is not a Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, at most 63)" $id $kind $service) -}}
  {{- end -}}
  {{- $rules = append $rules (dict "apiGroups" (list "discovery.k8s.io") "resources" (list "endpointslices") "verbs" (list "list" "watch") "optional" false) -}}
{{- end -}}

{{- if eq $kind "secret" -}}
  {{- $name := tpl (required (printf "kwait: wait %q (secret) needs `name`" $id) $w.name) $root -}}
  {{- $args = list "wait-secret" $name -}}
  {{- range $w.keys }}{{ $args = concat $args (list "--key" (toString .)) }}{{ end -}}
  {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false) -}}

{{- else if eq $kind "certificate" -}}
  {{- $name := tpl (required (printf "kwait: wait %q (certificate) needs `name`" $id) $w.name) $root -}}
  {{- $check := true -}}
  {{- if hasKey $w "secretCheck" }}{{ $check = $w.secretCheck }}{{ end -}}
  {{- $args = list "wait-certificate" $name -}}
  {{- $rules = append $rules (dict "apiGroups" (list "cert-manager.io") "resources" (list "certificates") "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false) -}}
  {{- if $check -}}
    {{- $s := tpl (required (printf "kwait: wait %q (certificate) needs `secretName` (the Certificate's spec.secretName, so the Role can name it) or `secretCheck: false`" $id) $w.secretName) $root -}}
    {{- $args = concat $args (list "--secret-name" $s) -}}
    {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (list $s) "verbs" (list "get") "optional" false) -}}
  {{- else -}}
    {{- $args = append $args "--no-secret-check" -}}
  {{- end -}}
  {{- if $explain -}}
    {{- $rules = append $rules (dict "apiGroups" (list "cert-manager.io") "resources" (list "certificaterequests") "verbs" (list "list") "optional" true) -}}
  {{- end -}}

{{- else if eq $kind "job" -}}
  {{- if and $w.name $w.selector -}}
    {{- fail (printf "kwait: wait %q (job): set `name` or `selector`, not both" $id) -}}
  {{- end -}}
  {{- if $w.name -}}
    {{- if $w.all }}{{ fail (printf "kwait: wait %q (job): `all` needs `selector`" $id) }}{{ end -}}
    {{- $name := tpl $w.name $root -}}
    {{- $args = list "wait-job" $name -}}
    {{- $rules = append $rules (dict "apiGroups" (list "batch") "resources" (list "jobs") "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false) -}}
  {{- else if $w.selector -}}
    {{- $args = list "wait-job" "-l" (tpl $w.selector $root) -}}
    {{- if $w.all }}{{ $args = append $args "--all" }}{{ end -}}
    {{- $rules = append $rules (dict "apiGroups" (list "batch") "resources" (list "jobs") "verbs" (list "list" "watch") "optional" false) -}}
  {{- else -}}
    {{- fail (printf "kwait: wait %q (job) needs `name` or `selector`" $id) -}}
  {{- end -}}
  {{- if $w.ifMissing }}{{ $args = concat $args (list "--if-missing" $w.ifMissing) }}{{ end -}}
  {{- if $explain -}}
    {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "list") "optional" true) -}}
    {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "events") "verbs" (list "list") "optional" true) -}}
  {{- end -}}

{{- else if eq $kind "http" -}}
  {{- $args = list "wait-http" (tpl (required (printf "kwait: wait %q (http) needs `url`" $id) $w.url) $root) -}}
  {{- if $service }}{{ $args = concat $args (list "--service" $service) }}{{ end -}}
  {{- if $w.method }}{{ $args = concat $args (list "--method" $w.method) }}{{ end -}}
  {{- if $w.status }}{{ $args = concat $args (list "--status" (toString $w.status)) }}{{ end -}}
  {{- if and $w.bodyContains $w.bodyRegex }}{{ fail (printf "kwait: wait %q (http): `bodyContains` and `bodyRegex` exclude each other" $id) }}{{ end -}}
  {{- if and $w.jsonPath (or $w.bodyContains $w.bodyRegex) }}{{ fail (printf "kwait: wait %q (http): `jsonPath` excludes `bodyContains` and `bodyRegex`" $id) }}{{ end -}}
  {{- if and (eq (upper (toString $w.method)) "HEAD") (or $w.bodyContains $w.bodyRegex $w.jsonPath) }}{{ fail (printf "kwait: wait %q (http): method HEAD gets no body to check" $id) }}{{ end -}}
  {{- if $w.bodyContains }}{{ $args = concat $args (list "--body-contains" $w.bodyContains) }}{{ end -}}
  {{- if $w.bodyRegex }}{{ $args = concat $args (list "--body-regex" $w.bodyRegex) }}{{ end -}}
  {{- if and (hasKey $w "equals") (not $w.jsonPath) }}{{ fail (printf "kwait: wait %q (http): `equals` needs `jsonPath`" $id) }}{{ end -}}
  {{- if $w.jsonPath }}{{ $args = concat $args (list "--json-path" $w.jsonPath) }}{{ end -}}
  {{- if hasKey $w "equals" }}{{ $args = concat $args (list "--equals" (toString $w.equals)) }}{{ end -}}
  {{- range $w.headers -}}
    {{- if regexMatch "(?i)^\\s*(authorization|proxy-authorization|cookie|x-api-key|api-key)\\s*:" . -}}
      {{- fail (printf "kwait: wait %q (http): header %q looks like a secret; argv is world-readable in the pod, use `headerSecret`" $id (regexReplaceAll ":.*$" . ": ...")) -}}
    {{- end -}}
    {{- $args = concat $args (list "--header" .) -}}
  {{- end -}}
  {{- with $w.headerSecret -}}
    {{- $args = concat $args (list "--header-file" (printf "%s/headers" $mountDir)) -}}
    {{- $projected = append $projected (dict "secret" (dict "name" (tpl (required (printf "kwait: wait %q: headerSecret needs `name`" $id) .name) $root) "items" (list (dict "key" (default "headers" .key) "path" "headers")))) -}}
  {{- end -}}
  {{- $tls := include "kwait.tls" (dict "root" $root "id" $id "w" $w "mountDir" $mountDir) | fromJson -}}
  {{- $args = concat $args $tls.args -}}
  {{- $projected = concat $projected $tls.sources -}}
  {{- if and (hasKey $w "followRedirects") (not $w.followRedirects) }}{{ $args = append $args "--no-follow-redirects" }}{{ end -}}

{{- else if eq $kind "tcp" -}}
  {{- $args = list "wait-tcp" (tpl (required (printf "kwait: wait %q (tcp) needs `address` (HOST:PORT)" $id) $w.address) $root) -}}
  {{- if $service }}{{ $args = concat $args (list "--service" $service) }}{{ end -}}
  {{- if and (hasKey $w "send") (not $w.expect) }}{{ fail (printf "kwait: wait %q (tcp): `send` needs `expect` (the answer to wait for)" $id) }}{{ end -}}
  {{- if hasKey $w "send" }}{{ $args = concat $args (list "--send" (toString $w.send)) }}{{ end -}}
  {{- if $w.expect }}{{ $args = concat $args (list "--expect" (toString $w.expect)) }}{{ end -}}

{{- else if eq $kind "configmap" -}}
  {{- $name := tpl (required (printf "kwait: wait %q (configmap) needs `name`" $id) $w.name) $root -}}
  {{- $args = list "wait-configmap" $name -}}
  {{- range $w.keys }}{{ $args = concat $args (list "--key" (toString .)) }}{{ end -}}
  {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "configmaps") "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false) -}}

{{- else if eq $kind "service" -}}
  {{- $name := tpl (required (printf "kwait: wait %q (service) needs `name`" $id) $w.name) $root -}}
  {{- $args = list "wait-service" $name -}}
  {{- if hasKey $w "port" }}{{ $args = concat $args (list "--port" (toString $w.port)) }}{{ end -}}
  {{- if hasKey $w "minReady" }}{{ $args = concat $args (list "--min-ready" (toString $w.minReady)) }}{{ end -}}
  {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "services") "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false) -}}
  {{- $rules = append $rules (dict "apiGroups" (list "discovery.k8s.io") "resources" (list "endpointslices") "verbs" (list "list" "watch") "optional" false) -}}
  {{- if $explain -}}
    {{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "list") "optional" true) -}}
  {{- end -}}

{{- else if or (eq $kind "ready") (eq $kind "deleted") -}}
  {{- /* the type by plural + group, so the RBAC is known without asking the server (as
       kwait --dry-run=rbac knows it: its table of types, or PLURAL.GROUP); `deleted` waits for
       the object(s) to be gone (wait-deleted), with the same type, name or selector and RBAC */ -}}
  {{- $sub := printf "wait-%s" $kind -}}
  {{- $res := required (printf "kwait: wait %q (%s) needs `resource` (the type's plural, e.g. deployments)" $id $kind) $w.resource -}}
  {{- if not (hasKey $w "group") }}{{ fail (printf "kwait: wait %q (%s) needs `group` (the type's API group, \"\" for the core group)" $id $kind) }}{{ end -}}
  {{- $group := toString $w.group -}}
  {{- $core := list "pods" "services" "persistentvolumeclaims" "persistentvolumes" "configmaps" "secrets" "serviceaccounts" "namespaces" "nodes" "replicationcontrollers" -}}
  {{- if and (eq $group "") (not (has $res $core)) -}}
    {{- fail (printf "kwait: wait %q (%s): %q is not a core type kwait knows (%s); give its `group`" $id $kind $res (join ", " $core)) -}}
  {{- end -}}
  {{- /* the cluster-scoped types of kwait's table: granted by a ClusterRole */ -}}
  {{- $clusterScoped := list "/persistentvolumes" "/namespaces" "/nodes" "apiextensions.k8s.io/customresourcedefinitions" "apiregistration.k8s.io/apiservices" "storage.k8s.io/storageclasses" "cert-manager.io/clusterissuers" -}}
  {{- $cluster := has (printf "%s/%s" $group $res) $clusterScoped -}}
  {{- if and $cluster $w.namespace }}{{ fail (printf "kwait: wait %q (%s): %s are cluster-scoped; `namespace` has no meaning for them" $id $kind $res) }}{{ end -}}
  {{- $type := $res -}}
  {{- if $group }}{{ $type = printf "%s.%s" $res $group }}{{ end -}}
  {{- if and $w.name $w.selector }}{{ fail (printf "kwait: wait %q (%s): set `name` or `selector`, not both" $id $kind) }}{{ end -}}
  {{- if $w.name -}}
    {{- if $w.any }}{{ fail (printf "kwait: wait %q (%s): `any` needs `selector`" $id $kind) }}{{ end -}}
    {{- $name := tpl $w.name $root -}}
    {{- $args = list $sub (printf "%s/%s" $type $name) -}}
    {{- $rules = append $rules (dict "apiGroups" (list $group) "resources" (list $res) "resourceNames" (list $name) "verbs" (list "get" "watch") "optional" false "cluster" $cluster) -}}
  {{- else if $w.selector -}}
    {{- $args = list $sub $type "-l" (tpl $w.selector $root) -}}
    {{- if $w.any }}{{ $args = append $args "--any" }}{{ end -}}
    {{- $rules = append $rules (dict "apiGroups" (list $group) "resources" (list $res) "verbs" (list "list" "watch") "optional" false "cluster" $cluster) -}}
  {{- else -}}
    {{- fail (printf "kwait: wait %q (%s) needs `name` or `selector`" $id $kind) -}}
  {{- end -}}
  {{- if and $w.condition $w.jsonPath }}{{ fail (printf "kwait: wait %q (ready): `condition` and `jsonPath` exclude each other" $id) }}{{ end -}}
  {{- if and (hasKey $w "equals") (not $w.jsonPath) }}{{ fail (printf "kwait: wait %q (ready): `equals` needs `jsonPath`" $id) }}{{ end -}}
  {{- if $w.condition }}{{ $args = concat $args (list "--condition" $w.condition) }}{{ end -}}
  {{- if $w.jsonPath }}{{ $args = concat $args (list "--json-path" $w.jsonPath) }}{{ end -}}
  {{- if hasKey $w "equals" }}{{ $args = concat $args (list "--equals" (toString $w.equals)) }}{{ end -}}

{{- else if or (eq $kind "postgres") (eq $kind "redis") (eq $kind "mysql") -}}
  {{- $args = list (printf "wait-%s" $kind) (tpl (required (printf "kwait: wait %q (%s) needs `address` (HOST[:PORT])" $id $kind) $w.address) $root) -}}
  {{- if and (eq $kind "mysql") (not (and $w.user $w.passwordSecret)) }}{{ fail (printf "kwait: wait %q (mysql) needs `user` and `passwordSecret` (kwait logs in)" $id) }}{{ end -}}
  {{- if and (eq $kind "redis") $w.user (not $w.passwordSecret) }}{{ fail (printf "kwait: wait %q (redis): `user` needs `passwordSecret` (AUTH sends both)" $id) }}{{ end -}}
  {{- if $w.user }}{{ $args = concat $args (list "--user" (tpl (toString $w.user) $root)) }}{{ end -}}
  {{- if $w.database }}{{ $args = concat $args (list "--database" (tpl (toString $w.database) $root)) }}{{ end -}}
  {{- with $w.passwordSecret -}}
    {{- /* from a mounted Secret, never argv or env (both are readable in the pod spec / /proc) */ -}}
    {{- $args = concat $args (list "--password-file" (printf "%s/password" $mountDir)) -}}
    {{- $projected = append $projected (dict "secret" (dict "name" (tpl (required (printf "kwait: wait %q: passwordSecret needs `name`" $id) .name) $root) "items" (list (dict "key" (default "password" .key) "path" "password")))) -}}
  {{- end -}}
  {{- if and (or $w.caCert $w.insecureSkipTlsVerify) (not $w.tls) }}{{ fail (printf "kwait: wait %q (%s): `caCert` and `insecureSkipTlsVerify` need `tls: true`" $id $kind) }}{{ end -}}
  {{- if $w.tls }}{{ $args = append $args "--tls" }}{{ end -}}
  {{- $tls := include "kwait.tls" (dict "root" $root "id" $id "w" $w "mountDir" $mountDir) | fromJson -}}
  {{- $args = concat $args $tls.args -}}
  {{- $projected = concat $projected $tls.sources -}}

{{- else if or (eq $kind "nats") (eq $kind "rabbitmq") -}}
  {{- $address := tpl (required (printf "kwait: wait %q (%s) needs `address` (HOST[:PORT] or its URL)" $id $kind) $w.address) $root -}}
  {{- $args = list (printf "wait-%s" $kind) $address -}}
  {{- $urlUser := regexMatch "^[a-zA-Z]+://[^/@]+@" $address -}}
  {{- if and (or $w.user $urlUser) (not $w.passwordSecret) }}{{ fail (printf "kwait: wait %q (%s): a user (`user` or USER@ in `address`) needs `passwordSecret` (the password comes from a mounted Secret only)" $id $kind) }}{{ end -}}
  {{- if and $w.tokenSecret (or $w.user $urlUser $w.passwordSecret) }}{{ fail (printf "kwait: wait %q (nats): `tokenSecret` logs in alone: leave out `user`, USER@ and `passwordSecret`" $id) }}{{ end -}}
  {{- if and $w.vhost (not $w.passwordSecret) }}{{ fail (printf "kwait: wait %q (rabbitmq): `vhost` is opened after logging in: it needs `user` and `passwordSecret`" $id) }}{{ end -}}
  {{- if $w.user }}{{ $args = concat $args (list "--user" (tpl (toString $w.user) $root)) }}{{ end -}}
  {{- if $w.vhost }}{{ $args = concat $args (list "--vhost" (tpl (toString $w.vhost) $root)) }}{{ end -}}
  {{- /* from a mounted Secret, never argv or env (both are readable in the pod spec / /proc) */ -}}
  {{- range $field := list (list "passwordSecret" "password" "--password-file") (list "tokenSecret" "token" "--token-file") -}}
    {{- with index $w (index $field 0) -}}
      {{- $path := index $field 1 -}}
      {{- $args = concat $args (list (index $field 2) (printf "%s/%s" $mountDir $path)) -}}
      {{- $projected = append $projected (dict "secret" (dict "name" (tpl (required (printf "kwait: wait %q: %s needs `name`" $id (index $field 0)) .name) $root) "items" (list (dict "key" (default $path .key) "path" $path)))) -}}
    {{- end -}}
  {{- end -}}
  {{- $amqps := hasPrefix "amqps://" (lower $address) -}}
  {{- if and (or $w.caCert $w.insecureSkipTlsVerify) (not $w.tls) (not $amqps) }}{{ fail (printf "kwait: wait %q (%s): `caCert` and `insecureSkipTlsVerify` need `tls: true`%s" $id $kind (ternary " (or an amqps:// address)" "" (eq $kind "rabbitmq"))) }}{{ end -}}
  {{- if $w.tls }}{{ $args = append $args "--tls" }}{{ end -}}
  {{- $tls := include "kwait.tls" (dict "root" $root "id" $id "w" $w "mountDir" $mountDir) | fromJson -}}
  {{- $args = concat $args $tls.args -}}
  {{- $projected = concat $projected $tls.sources -}}
{{- else if eq $kind "dns" -}}
  {{- $args = list "wait-dns" (tpl (required (printf "kwait: wait %q (dns) needs `name`" $id) $w.name) $root) -}}
  {{- if $w.type }}{{ $args = concat $args (list "--type" (toString $w.type)) }}{{ end -}}
  {{- if $w.min }}{{ $args = concat $args (list "--min" (toString $w.min)) }}{{ end -}}

{{- else if eq $kind "file" -}}
  {{- $args = list "wait-file" (tpl (required (printf "kwait: wait %q (file) needs `path`" $id) $w.path) $root) -}}
  {{- if $w.nonempty }}{{ $args = append $args "--nonempty" }}{{ end -}}
  {{- if $w.contains }}{{ $args = concat $args (list "--contains" (toString $w.contains)) }}{{ end -}}
  {{- /* the pod's own volume (an emptyDir another container writes), mounted read-only at the
       file's directory; the pod defines it, kwait.volumes does not */ -}}
  {{- with $w.volume }}{{ $fileMount = dict "name" (tpl (toString .) $root) "mountPath" (dir (index $args 1)) "readOnly" true }}{{ end -}}
{{- end -}}

{{- /* the target alone (a segment of a --and command line), then the global options:
     for one wait after the subcommand (kwait accepts them there), for several at the front */ -}}
{{- $cmd := $args -}}
{{- $opts := dict -}}
{{- if $ns }}{{ $args = concat $args (list "--namespace" $ns) }}{{ end -}}
{{- range $opt := list (list "timeout" "--timeout") (list "interval" "--interval") (list "maxInterval" "--max-interval") (list "attemptTimeout" "--attempt-timeout") (list "logFormat" "--log-format") -}}
  {{- $key := index $opt 0 -}}
  {{- $v := "" -}}
  {{- if hasKey $w $key }}{{ $v = index $w $key }}{{ else if hasKey $g $key }}{{ $v = index $g $key }}{{ end -}}
  {{- if or $v (kindIs "int" $v) (kindIs "float64" $v) -}}
    {{- $args = concat $args (list (index $opt 1) (toString $v)) -}}
    {{- $_ := set $opts $key (toString $v) -}}
  {{- end -}}
{{- end -}}
{{- if $w.verbose }}{{ $args = append $args "-v" }}{{ end -}}
{{- if $w.quiet }}{{ $args = append $args "-q" }}{{ end -}}

{{- $env := list -}}
{{- if and (or (has $kind (list "secret" "configmap" "certificate" "job" "ready" "deleted" "service")) $service) (not $ns) -}}
  {{- $env = append $env (dict "name" "KWAIT_NAMESPACE" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace"))) -}}
{{- end -}}
{{- /* Events on the waiting pod (kwait.rbac grants them): the downward API names it */ -}}
{{- if or (not (hasKey $g "events")) $g.events -}}
  {{- range $var := list (list "POD_NAME" "metadata.name") (list "POD_NAMESPACE" "metadata.namespace") (list "POD_UID" "metadata.uid") -}}
    {{- $env = append $env (dict "name" (index $var 0) "valueFrom" (dict "fieldRef" (dict "fieldPath" (index $var 1)))) -}}
  {{- end -}}
{{- end -}}
{{- $out := dict "id" $id "kind" $kind "namespace" $ns "args" $args "env" $env "rules" $rules
    "cmd" $cmd "opts" $opts "verbose" (not (not $w.verbose)) "quiet" (not (not $w.quiet))
    "containerName" (default (printf "kwait-%s" $id) $w.containerName)
    "resources" (default $g.resources $w.resources) -}}
{{- if $projected -}}
  {{- $_ := set $out "volume" (dict "name" (printf "kwait-%s" $id) "projected" (dict "sources" $projected)) -}}
  {{- $_ := set $out "volumeMount" (dict "name" (printf "kwait-%s" $id) "mountPath" $mountDir "readOnly" true) -}}
{{- end -}}
{{- if $fileMount }}{{ $_ := set $out "volumeMount" $fileMount }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
kwait.tls — internal: a wait's `caCert` (a Secret or ConfigMap key mounted as
<mountDir>/ca.crt, passed as --ca-cert) or `insecureSkipTlsVerify`. JSON {args, sources}.
*/}}
{{- define "kwait.tls" -}}
{{- $w := .w -}}
{{- $id := .id -}}
{{- $args := list -}}
{{- $sources := list -}}
{{- with $w.caCert -}}
  {{- $args = list "--ca-cert" (printf "%s/ca.crt" $.mountDir) -}}
  {{- $items := list (dict "key" (default "ca.crt" .key) "path" "ca.crt") -}}
  {{- if and .secretName .configMapName }}{{ fail (printf "kwait: wait %q: caCert takes `secretName` or `configMapName`, not both" $id) }}{{ end -}}
  {{- if .secretName -}}
    {{- $sources = append $sources (dict "secret" (dict "name" (tpl .secretName $.root) "items" $items)) -}}
  {{- else if .configMapName -}}
    {{- $sources = append $sources (dict "configMap" (dict "name" (tpl .configMapName $.root) "items" $items)) -}}
  {{- else -}}
    {{- fail (printf "kwait: wait %q: caCert needs `secretName` or `configMapName`" $id) -}}
  {{- end -}}
{{- end -}}
{{- if and $w.caCert $w.insecureSkipTlsVerify }}{{ fail (printf "kwait: wait %q (%s): `caCert` and `insecureSkipTlsVerify` exclude each other" $id $w.kind) }}{{ end -}}
{{- if $w.insecureSkipTlsVerify }}{{ $args = append $args "--insecure-skip-tls-verify" }}{{ end -}}
{{- toJson (dict "args" $args "sources" $sources) -}}
{{- end -}}

{{/* kwait.image — internal: repository:tag[@digest]. Parameter: the root context. */}}
{{- define "kwait.image" -}}
{{- $g := default dict (index .Values "kwait") -}}
{{- $img := default dict $g.image -}}
{{- $repo := default "ghcr.io/kwait/kwait" $img.repository -}}
{{- /* never the app chart's own appVersion: that versions the app, not kwait */ -}}
{{- $lib := "" -}}
{{- with .Subcharts }}{{ with index . "kwait" }}{{ $lib = .Chart.AppVersion }}{{ end }}{{ end -}}
{{- $tag := default (default "0.1.0" $lib) $img.tag -}}
{{- $tag = toString $tag -}}
{{- if $img.digest -}}
{{- printf "%s:%s@%s" $repo $tag $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* kwait.waitList — internal: normalizes the `waits` parameter into a list of {wait, name}. */}}
{{- define "kwait.waitList" -}}
{{- $out := list -}}
{{- $g := default dict (index .root.Values "kwait") -}}
{{- $ws := .waits -}}
{{- if not (hasKey . "waits") -}}
  {{- $ws = keys (default dict $g.waits) | sortAlpha -}}
{{- end -}}
{{- if kindIs "string" $ws }}{{ $ws = list $ws }}{{ end -}}
{{- if kindIs "map" $ws -}}
  {{- $l := list -}}
  {{- range $k := keys $ws | sortAlpha }}{{ $l = append $l (dict "name" $k "wait" (index $ws $k)) }}{{ end -}}
  {{- $out = $l -}}
{{- else -}}
  {{- range $ws -}}
    {{- if kindIs "string" . }}{{ $out = append $out (dict "wait" .) }}{{ else }}{{ $out = append $out . }}{{ end -}}
  {{- end -}}
{{- end -}}
{{- toJson (dict "list" $out) -}}
{{- end -}}
