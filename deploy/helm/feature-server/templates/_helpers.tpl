{{/* featurestream-feature-server: one per namespace (the online store is the namespace's). */}}
{{- define "server.name" -}}featurestream-feature-server{{- end -}}

{{- define "server.selectorLabels" -}}
app.kubernetes.io/name: feature-server
app.kubernetes.io/instance: {{ include "server.name" . }}
app.kubernetes.io/part-of: featurestream
{{- end -}}

{{- define "server.labels" -}}
{{ include "server.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
featurestream.dev/environment: {{ .Values.environment | quote }}
{{- end -}}

{{- define "server.image" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is empty: render with the environment file (featurestream render --server --env <env>)" -}}
{{- end -}}
{{- if and .Values.image.requireDigest (not .Values.image.digest) -}}
{{- fail "image.requireDigest: this environment deploys by digest; pass --set image.digest=sha256:<64 hex>" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}
