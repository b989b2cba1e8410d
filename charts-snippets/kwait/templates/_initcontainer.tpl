{{/*
kwait.initContainer — ONE init container (a list item) for one wait, or for several joined
with `--and` (one kwait process, one deadline, every target awaited at once).

  initContainers:
    {{- include "kwait.initContainer" (dict "root" . "wait" "api-user") | nindent 8 }}
    {{- include "kwait.initContainer" (dict "root" . "waits" (list "api-user" "litellm")) | nindent 8 }}

Parameters (a dict):
  root           the chart's root context
  wait           a key of .Values.kwait.waits, or an inline dict with the same fields
  name           the id of an inline wait (container kwait-<name>)
  waits          instead of `wait`: a non-empty list of keys of .Values.kwait.waits or
                 {name, wait} dicts (inline). One wait renders exactly as `wait` does.
  containerName  for several waits: the container's name (default "kwait")
If a wait has `headerSecret`, `caCert` or `passwordSecret`, also render "kwait.volumes" (same waits) into the
pod's volumes.

Several waits: the global options go once at the front, each wait's own options and its
`namespace` (as `-n NS`) inside its segment:
  --timeout 10m wait-secret api-user --key API_KEY --and wait-http http://... -n other
  timeout                      the longest of the waits' timeouts (`0`, no limit, wins):
                               one deadline covers every target
  interval, maxInterval,       must be alike in every wait (kwait has one of each per run);
  attemptTimeout, logFormat,   different values fail rendering, naming the waits
  resources
  verbose (-v)                 when any wait sets it; quiet (-q) only when all do (and none -v)
  env, volumeMounts            merged (KWAIT_NAMESPACE once; a mount per wait, /etc/kwait/<id>)
The waits' own `containerName` is not used for several waits.
*/}}
{{- define "kwait.initContainer" -}}
{{- $c := include "kwait.container" . | fromJson -}}
{{- $g := default dict (index .root.Values "kwait") -}}
{{- $img := default dict $g.image -}}
- name: {{ $c.name }}
  image: {{ include "kwait.image" .root | quote }}
  imagePullPolicy: {{ default "IfNotPresent" $img.pullPolicy }}
  args: [{{ range $i, $a := $c.args }}{{ if $i }}, {{ end }}{{ toJson $a }}{{ end }}]
  {{- with $c.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.volumeMounts }}
  volumeMounts:
    {{- range . }}
    - {{- toYaml . | nindent 6 }}
    {{- end }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
  terminationMessagePolicy: FallbackToLogsOnError
{{- end -}}

{{/*
kwait.container — internal: the container's name, args, env, resources and volumeMounts (JSON)
for the parameters of kwait.initContainer.
*/}}
{{- define "kwait.container" -}}
{{- $root := required "kwait: parameter `root` (the chart's root context) is required" .root -}}
{{- if and (hasKey . "waits") (hasKey . "wait") -}}
  {{- fail "kwait.initContainer: give `wait` (one) or `waits` (a list), not both" -}}
{{- end -}}
{{- if hasKey . "waits" -}}
  {{- $list := (include "kwait.waitList" . | fromJson).list -}}
  {{- if not $list -}}
    {{- fail "kwait.initContainer: `waits` is empty; list at least one wait (a key of kwait.waits or a {name, wait} dict)" -}}
    {{- /* helm lint runs `fail` as a log line and goes on: stop it here all the same */ -}}
    {{- $_ := index $list 0 -}}
  {{- end -}}
  {{- if eq (len $list) 1 -}}
    {{- include "kwait.container" (merge (dict "root" $root) (first $list)) -}}
  {{- else -}}
    {{- $rs := list -}}
    {{- $ids := list -}}
    {{- range $list -}}
      {{- $r := include "kwait.resolve" (merge (dict "root" $root) .) | fromJson -}}
      {{- if has $r.id $ids -}}
        {{- fail (printf "kwait.initContainer: wait %q is listed twice in `waits`" $r.id) -}}
      {{- end -}}
      {{- $ids = append $ids $r.id -}}
      {{- $rs = append $rs $r -}}
    {{- end -}}
    {{- $front := list -}}
    {{- /* one deadline: the longest timeout; 0 (none) wins */ -}}
    {{- $timeout := "" -}}
    {{- $longest := -1.0 -}}
    {{- range $r := $rs -}}
      {{- with $r.opts.timeout -}}
        {{- $s := include "kwait.seconds" . | float64 -}}
        {{- if eq $s 0.0 }}{{ $s = 1e18 }}{{ end -}}
        {{- if gt $s $longest }}{{ $longest = $s }}{{ $timeout = . }}{{ end -}}
      {{- end -}}
    {{- end -}}
    {{- if $timeout }}{{ $front = concat $front (list "--timeout" $timeout) }}{{ end -}}
    {{- range $opt := list (list "interval" "--interval") (list "maxInterval" "--max-interval") (list "attemptTimeout" "--attempt-timeout") (list "logFormat" "--log-format") -}}
      {{- $key := index $opt 0 -}}
      {{- $first := index $rs 0 -}}
      {{- $v := index $first.opts $key | default "" -}}
      {{- range $r := rest $rs -}}
        {{- $o := index $r.opts $key | default "" -}}
        {{- if ne $o $v -}}
          {{- fail (printf "kwait.initContainer: waits %q and %q set different %s (%q, %q); one kwait has one %s for every target: set it alike, or once under kwait:" $first.id $r.id $key $v $o $key) -}}
        {{- end -}}
      {{- end -}}
      {{- if $v }}{{ $front = concat $front (list (index $opt 1) $v) }}{{ end -}}
    {{- end -}}
    {{- $verbose := false -}}
    {{- $quiet := true -}}
    {{- range $r := $rs -}}
      {{- if $r.verbose }}{{ $verbose = true }}{{ end -}}
      {{- if not $r.quiet }}{{ $quiet = false }}{{ end -}}
    {{- end -}}
    {{- if $verbose }}{{ $front = append $front "-v" }}{{ else if $quiet }}{{ $front = append $front "-q" }}{{ end -}}
    {{- $args := $front -}}
    {{- $env := list -}}
    {{- $envNames := list -}}
    {{- $mounts := list -}}
    {{- $first := index $rs 0 -}}
    {{- range $i, $r := $rs -}}
      {{- if $i }}{{ $args = append $args "--and" }}{{ end -}}
      {{- $args = concat $args $r.cmd -}}
      {{- if $r.namespace }}{{ $args = concat $args (list "-n" $r.namespace) }}{{ end -}}
      {{- range $e := $r.env -}}
        {{- if not (has $e.name $envNames) }}{{ $env = append $env $e }}{{ $envNames = append $envNames $e.name }}{{ end -}}
      {{- end -}}
      {{- with $r.volumeMount }}{{ $mounts = append $mounts . }}{{ end -}}
      {{- if ne (toJson $r.resources) (toJson $first.resources) -}}
        {{- fail (printf "kwait.initContainer: waits %q and %q set different resources; one container has one: set them alike, or once under kwait:" $first.id $r.id) -}}
      {{- end -}}
    {{- end -}}
    {{- $name := default "kwait" .containerName -}}
    {{- toJson (dict "name" $name "args" $args "env" $env "resources" $first.resources "volumeMounts" $mounts) -}}
  {{- end -}}
{{- else -}}
  {{- $r := include "kwait.resolve" . | fromJson -}}
  {{- $mounts := list -}}
  {{- with $r.volumeMount }}{{ $mounts = list . }}{{ end -}}
  {{- toJson (dict "name" $r.containerName "args" $r.args "env" $r.env "resources" $r.resources "volumeMounts" $mounts) -}}
{{- end -}}
{{- end -}}

{{/*
kwait.seconds — internal: a kwait duration (Go style "1h30m", "250ms", or bare seconds) in
seconds, for comparing timeouts. The values schema has checked the syntax.
*/}}
{{- define "kwait.seconds" -}}
{{- $s := toString . -}}
{{- if regexMatch "^[0-9]+$" $s -}}
{{- $s -}}
{{- else -}}
{{- $unit := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" $s -1 -}}
  {{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" $part -}}
  {{- $total = addf $total (mulf (float64 $n) (index $unit (trimPrefix $n $part))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}
{{- end -}}

{{/*
kwait.initContainers — one init container per wait, in order.
Parameters: root; waits (a list of keys or {wait, name} dicts; default: every key of
.Values.kwait.waits, sorted).
*/}}
{{- define "kwait.initContainers" -}}
{{- $root := .root -}}
{{- range (include "kwait.waitList" . | fromJson).list }}
{{ include "kwait.initContainer" (merge (dict "root" $root) .) }}
{{- end -}}
{{- end -}}

{{/*
kwait.volumes — the pod volumes the waits need (a projected volume per wait that has `passwordSecret`,
`headerSecret` or `caCert`); renders nothing otherwise. Same parameters as kwait.initContainers.

  volumes:
    {{- include "kwait.volumes" (dict "root" . "waits" (list "litellm")) | nindent 8 }}
*/}}
{{- define "kwait.volumes" -}}
{{- $root := .root -}}
{{- range (include "kwait.waitList" . | fromJson).list }}
{{- $r := include "kwait.resolve" (merge (dict "root" $root) .) | fromJson }}
{{- with $r.volume }}
- {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
{{- end -}}
