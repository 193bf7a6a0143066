{{/*
Names and labels of the featurestream-job chart. Everything is named after the job folder:
release = FlinkDeployment = consumer group = featurestream-<job-with-dashes> (../shared/DESIGN.md).
*/}}

{{/*
featurestream-<job-with-dashes>: at most 45 characters (job.name is at most 31). Derived from the
job, not from .Release.Name; `featurestream deploy` names the release the same, and Helm refuses a
second release that would take over the same FlinkDeployment.
*/}}
{{- define "featurestream.name" -}}
{{- printf "featurestream-%s" (.Values.job.name | replace "_" "-") -}}
{{- end -}}

{- end -}}

{{/*
Labels that select the job's pods. They sit in the pod template, which is part of the
FlinkDeployment spec, and any spec change makes the operator upgrade the job through a
savepoint: so nothing here may change with the chart version or the image tag.
*/}}
{{- define "featurestream.selectorLabels" -}}
app.kubernetes.io/name: featurestream-job
app.kubernetes.io/instance: {{ include "featurestream.name" . }}
app.kubernetes.io/part-of: featurestream
featurestream.dev/job: {{ .Values.job.name }}
{{- end -}}

{{/* Labels of every resource's metadata (not part of a spec: free to follow versions). */}}
{{- define "featurestream.labels" -}}
{{ include "featurestream.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
featurestream.dev/environment: {{ .Values.environment | quote }}
{{- end -}}

{{/*
What the operator would accept but Flink or the environment would not (common/deploy/values.py
refuses the same: helm has no Python).
*/}}
{{- define "featurestream.checks" -}}
{{- $job := .Values.job -}}
{{- if gt (int $job.parallelism) (int $job.maxParallelism) -}}
{{- fail (printf "job.parallelism %d is above job.maxParallelism %d: Flink would refuse the job at submission" (int $job.parallelism) (int $job.maxParallelism)) -}}
{{- end -}}
{{- if not .Values.highAvailability.enabled -}}
{{- if eq $job.upgradeMode "last-state" -}}
{{- fail "job.upgradeMode last-state needs highAvailability.enabled: without HA the operator cannot find the latest checkpoint" -}}
{{- end -}}
{{- if gt (int .Values.jobManager.replicas) 1 -}}
{{- fail "jobManager.replicas > 1 (standbys) needs highAvailability.enabled" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.image.requireDigest (not .Values.image.digest) -}}
{{- fail "image.requireDigest: this environment deploys by digest; pass --set image.digest=sha256:<64 hex> (the release pipeline's pinned digest)" -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository:tag@digest when a digest is pinned. */}}
{{- define "featurestream.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- $image = printf "%s@%s" $image .Values.image.digest -}}
{{- end -}}
{{- $image -}}
{{- end -}}

{{/* The PyFlink driver's arguments (common/features/job.py::build_arg_parser), without --wait:
     in application mode the driver submits and returns. */}}
{{- define "featurestream.jobArgs" -}}
{{- $job := .Values.job -}}
{{- $args := list "-pym" (printf "jobs.%s.job" $job.name) -}}
{{- $args = concat $args (list "--bootstrap-servers" .Values.kafka.bootstrapServers "--registry-url" .Values.registry.url) -}}
{{- if .Values.onlineStore.enabled -}}
{{- if not .Values.onlineStore.url -}}
{{- fail "onlineStore.enabled needs onlineStore.url (or set onlineStore.enabled=false)" -}}
{{- end -}}
{{- $args = concat $args (list "--redis-url" .Values.onlineStore.url) -}}
{{- else -}}
{{- $args = append $args "--no-online-store" -}}
{{- end -}}
{{- $args = concat $args (list "--startup" $job.startup "--checkpoint-interval" $job.checkpointInterval) -}}
{{- if $job.sourceTopic -}}
{{- $args = concat $args (list "--source-topic" $job.sourceTopic) -}}
{{- end -}}
{{- if $job.topicSuffix -}}
{{- $args = concat $args (list "--topic-suffix" $job.topicSuffix) -}}
{{- end -}}
{{- if $job.groupId -}}
{{- $args = concat $args (list "--group-id" $job.groupId) -}}
{{- end -}}
{{- if $job.bounded -}}
{{- $args = append $args "--bounded" -}}
{{- end -}}
{{- $args = concat $args $job.args -}}
{{- toYaml $args -}}
{{- end -}}

{{/*
Environment of the JobManager's container: where the driver reads credentials
(common/credentials.py). Secret values come by secretKeyRef; none is ever in the spec.
*/}}
{{- define "featurestream.credentialsEnv" -}}
{{- $kafka := .Values.kafka -}}
{{- $sasl := hasPrefix "SASL_" $kafka.securityProtocol -}}
{{- if and $sasl (not $kafka.saslMechanism) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.saslMechanism" $kafka.securityProtocol) -}}
{{- end -}}
{{- if and $kafka.saslMechanism (not $sasl) -}}
{{- fail "kafka.saslMechanism needs a SASL_ kafka.securityProtocol" -}}
{{- end -}}
{{- if and $kafka.saslMechanism (not $kafka.credentialsSecret.name) -}}
{{- fail "kafka.saslMechanism needs kafka.credentialsSecret.name (a Secret with the SASL username and password)" -}}
{{- end -}}
- name: FEATURESTREAM_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol }}
{{- if $kafka.saslMechanism }}
- name: FEATURESTREAM_KAFKA_SASL_MECHANISM
  value: {{ $kafka.saslMechanism }}
- name: FEATURESTREAM_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.credentialsSecret.name }}
      key: {{ $kafka.credentialsSecret.usernameKey }}
- name: FEATURESTREAM_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.credentialsSecret.name }}
      key: {{ $kafka.credentialsSecret.passwordKey }}
{{- end }}
{{- with .Values.registry.credentialsSecret }}
{{- if .name }}
- name: FEATURESTREAM_REGISTRY_BASIC_AUTH_USER_INFO
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .userInfoKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The Flink container. Written out in full for the JobManager and the TaskManager pod templates:
the operator replaces (does not merge) a role's container list over the common pod template's.
Arguments: dict "root" . "env" <list of env entries as YAML, or "">.
*/}}
{{- define "featurestream.mainContainer" -}}
- name: flink-main-container
  ports:
    - name: metrics
      containerPort: {{ .root.Values.metrics.port }}
      protocol: TCP
  securityContext:
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
{{- with .env }}
  env:
    {{- . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The release's NOTES (a template of its own, so tests can render it without a cluster). */}}
{{- define "featurestream.notes" -}}
{{- $name := include "featurestream.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $env := .Values.environment | default "<env>" -}}
{{ $name }}: feature job {{ .Values.job.name }} ({{ .Values.environment }}), image {{ include "featurestream.image" . }},
upgradeMode {{ .Values.job.upgradeMode }}. State under {{ .Values.storage.baseUri }}/{{ $name }}/.

Status:
  kubectl -n {{ $ns }} get flinkdeployment {{ $name }}
  kubectl -n {{ $ns }} describe flinkdeployment {{ $name }}

Take a savepoint (a FlinkStateSnapshot; waits, prints the path):
  featurestream savepoint {{ .Values.job.name }} --target k8s --env {{ $env }} --namespace {{ $ns }}

List savepoints:
  featurestream savepoints {{ .Values.job.name }} --target k8s --namespace {{ $ns }}

Restore from a savepoint (sets initialSavepointPath, bumps savepointRedeployNonce):
  featurestream restore {{ .Values.job.name }} --target k8s --env {{ $env }} --namespace {{ $ns }} --savepoint <path>

Upgrade (any spec change: the operator stops the job with a savepoint and starts the new spec from it):
  featurestream deploy {{ .Values.job.name }} --env {{ $env }} --namespace {{ $ns }} --dry-run
  featurestream deploy {{ .Values.job.name }} --env {{ $env }} --namespace {{ $ns }}
{{- end -}}
