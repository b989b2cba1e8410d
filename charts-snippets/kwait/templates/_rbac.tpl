{{/*
kwait.rbac — Role + RoleBinding giving one ServiceAccount exactly what its waits need:
  secret NAME            get, watch  secrets/NAME
  certificate NAME       get, watch  certificates.cert-manager.io/NAME
                         get         secrets/<secretName>          (unless secretCheck: false)
                         list        certificaterequests           (explain only)
  job NAME               get, watch  jobs.batch/NAME
  job selector           list, watch jobs.batch                    (a selector cannot name objects)
                         list        pods                          (explain only, both job forms)
                         list        events                        (explain only, both job forms)
  configmap NAME         get, watch  configmaps/NAME
  service NAME           get, watch  services/NAME
                         list, watch endpointslices.discovery.k8s.io (found by label)
                         list        pods                          (explain only)
  ready RESOURCE NAME    get, watch  RESOURCE.GROUP/NAME
  ready selector         list, watch RESOURCE.GROUP
  deleted RESOURCE NAME  get, watch  RESOURCE.GROUP/NAME            (as ready)
  deleted selector       list, watch RESOURCE.GROUP
  http/tcp with service  list, watch endpointslices.discovery.k8s.io (found by label)
  http, tcp, postgres,   nothing
  redis, nats, rabbitmq,
  mysql, dns, file
  every wait             create, patch events.events.k8s.io        (Events on the waiting pod, in
                                                                    the release namespace; events:
                                                                    false drops it)
Waits in another namespace (`namespace:`) get their own Role + RoleBinding there. Ready and
deleted waits on a cluster-scoped type (customresourcedefinitions, persistentvolumes, namespaces, nodes,
storageclasses, apiservices, clusterissuers) get a ClusterRole + ClusterRoleBinding named
<namespace>-<release>-kwait-<name>-<hash> (cluster-wide names: the namespace keeps releases
apart). Every name ends with <hash>, the first 8 hex digits of the sha256 of the rules it
grants: two calls with different waits never render one name (applying the second would take
the first pod's permissions away), the same waits always render the same name.
Renders nothing when no wait needs any rule (with `events: false`).

  {{- include "kwait.rbac" (dict "root" . "name" "web" "serviceAccountName" "web" "waits" (list "migrations")) }}

Parameters (a dict):
  root                the chart's root context
  name                part of the Role/RoleBinding name: <release>-kwait-<name>-<hash> (default: the SA name)
  serviceAccountName  the pod's ServiceAccount (required)
  waits               keys of .Values.kwait.waits or {wait, name} dicts (default: all waits)
  hook                optional Helm hook list (e.g. "pre-install,pre-upgrade") when the waiting
                      pod is itself a hook: the Role must exist before it; rendered with
                      hook-weight -10 and delete policy before-hook-creation
  labels              optional extra labels (dict)
*/}}
{{- define "kwait.rbac" -}}
{{- $root := .root -}}
{{- $sa := required "kwait.rbac: parameter `serviceAccountName` is required" .serviceAccountName -}}
{{- $suffix := default $sa .name -}}
{{- $byNs := dict -}}
{{- range (include "kwait.waitList" . | fromJson).list -}}
  {{- $r := include "kwait.resolve" (merge (dict "root" $root) .) | fromJson -}}
  {{- $waitNs := default $root.Release.Namespace $r.namespace -}}
  {{- range $rule := $r.rules -}}
    {{- /* key "" = the ClusterRole (no namespace can be empty) */ -}}
    {{- $ns := ternary "" $waitNs (not (not $rule.cluster)) -}}
    {{- $acc := default dict (index $byNs $ns) -}}
    {{- /* merge rules with the same group, resource and verbs; keep named and unnamed apart */ -}}
    {{- $named := hasKey $rule "resourceNames" -}}
    {{- $key := printf "%s|%s|%s|%t" (index $rule.apiGroups 0) (index $rule.resources 0) (join "," $rule.verbs) $named -}}
    {{- $prev := index $acc $key -}}
    {{- if $prev -}}
      {{- if $named }}{{ $_ := set $prev "resourceNames" (concat $prev.resourceNames $rule.resourceNames | uniq | sortAlpha) }}{{ end -}}
    {{- else -}}
      {{- $new := dict "apiGroups" $rule.apiGroups "resources" $rule.resources "verbs" $rule.verbs -}}
      {{- if $named }}{{ $_ := set $new "resourceNames" $rule.resourceNames }}{{ end -}}
      {{- $_ := set $acc $key $new -}}
    {{- end -}}
    {{- $_ := set $byNs $ns $acc -}}
  {{- end -}}
{{- end -}}
{{- $g := default dict (index $root.Values "kwait") -}}
{{- if or (not (hasKey $g "events")) $g.events -}}
  {{- $acc := default dict (index $byNs $root.Release.Namespace) -}}
  {{- $_ := set $acc "events.k8s.io|events|create,patch|false" (dict "apiGroups" (list "events.k8s.io") "resources" (list "events") "verbs" (list "create" "patch")) -}}
  {{- $_ := set $byNs $root.Release.Namespace $acc -}}
{{- end -}}
{{- $fullname := printf "%s-kwait-%s" $root.Release.Name $suffix | trunc 63 | trimSuffix "-" -}}
{{- $labels := merge (dict "app.kubernetes.io/managed-by" $root.Release.Service "app.kubernetes.io/instance" $root.Release.Name "app.kubernetes.io/component" "kwait" "helm.sh/chart" (printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-")) (default dict .labels) -}}
{{- $clusterName := printf "%s-%s-kwait-%s" $root.Release.Namespace $root.Release.Name $suffix | trunc 253 | trimSuffix "-" -}}
{{- $hook := .hook -}}
{{- range $ns := keys $byNs | sortAlpha }}
{{- $acc := index $byNs $ns }}
{{- if $acc }}
{{- /* the name ends with a hash of the rules it grants: two different lists never share a
     name (applying one would take the other's permissions away), the same list keeps its name */}}
{{- $ruleList := list }}
{{- range $key := keys $acc | sortAlpha }}{{ $ruleList = append $ruleList (index $acc $key) }}{{ end }}
{{- $hash := $ruleList | toJson | sha256sum | trunc 8 }}
{{- $roleName := printf "%s-%s" ($fullname | trunc 54 | trimSuffix "-") $hash }}
{{- if not $ns }}{{ $roleName = printf "%s-%s" ($clusterName | trunc 244 | trimSuffix "-") $hash }}{{ end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ ternary "Role" "ClusterRole" (ne $ns "") }}
metadata:
  name: {{ $roleName }}
  {{- if $ns }}
  namespace: {{ $ns }}
  {{- end }}
  labels:
    {{- toYaml $labels | nindent 4 }}
  {{- if $hook }}
  annotations:
    helm.sh/hook: {{ $hook | quote }}
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
rules:
  {{- range $key := keys $acc | sortAlpha }}
  {{- $rule := index $acc $key }}
  - apiGroups: {{ toJson $rule.apiGroups }}
    resources: {{ toJson $rule.resources }}
    {{- with $rule.resourceNames }}
    resourceNames: {{ toJson . }}
    {{- end }}
    verbs: {{ toJson $rule.verbs }}
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ ternary "RoleBinding" "ClusterRoleBinding" (ne $ns "") }}
metadata:
  name: {{ $roleName }}
  {{- if $ns }}
  namespace: {{ $ns }}
  {{- end }}
  labels:
    {{- toYaml $labels | nindent 4 }}
  {{- if $hook }}
  annotations:
    helm.sh/hook: {{ $hook | quote }}
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ ternary "Role" "ClusterRole" (ne $ns "") }}
  name: {{ $roleName }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- end }}
{{- end -}}
