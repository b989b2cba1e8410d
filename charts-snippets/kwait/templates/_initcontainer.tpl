{{/*
kwait.initContainer — one init container (a list item) for one wait.

  initContainers:
    {{- include "kwait.initContainer" (dict "root" . "wait" "api-user") | nindent 8 }}

Parameters (a dict):
  root  the chart's root context
  wait  a key of .Values.kwait.waits, or an inline dict with the same fields
  name  the id of an inline wait (container kwait-<name>)
If the wait has `headerSecret` or `caCert`, also render "kwait.volumes" into the pod's volumes.
*/}}
{{- define "kwait.initContainer" -}}
{{- $r := include "kwait.resolve" . | fromJson -}}
{{- $g := default dict (index .root.Values "kwait") -}}
{{- $img := default dict $g.image -}}
- name: {{ $r.containerName }}
  image: {{ include "kwait.image" .root | quote }}
  imagePullPolicy: {{ default "IfNotPresent" $img.pullPolicy }}
  args: [{{ range $i, $a := $r.args }}{{ if $i }}, {{ end }}{{ toJson $a }}{{ end }}]
  {{- with $r.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.volumeMount }}
  volumeMounts:
    - {{- toYaml . | nindent 6 }}
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
kwait.volumes — the pod volumes the waits need (a projected volume per wait that has
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
