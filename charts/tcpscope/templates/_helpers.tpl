{{/* Names, labels, image references and the settings-to-env tables shared by the templates. */}}

{{- define "tcpscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tcpscope.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The standard labels on every object; call with (dict "ctx" $ "component" "agent"). */}}
{{- define "tcpscope.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tcpscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: tcpscope
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "tcpscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tcpscope.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tcpscope.agentName" -}}{{ include "tcpscope.fullname" . }}-agent{{- end -}}
{{- define "tcpscope.collectorName" -}}{{ include "tcpscope.fullname" . }}-collector{{- end -}}
{{- define "tcpscope.caSecret" -}}{{ include "tcpscope.fullname" . }}-ca{{- end -}}
{{- define "tcpscope.collectorTlsSecret" -}}{{ include "tcpscope.fullname" . }}-collector-tls{{- end -}}
{{- define "tcpscope.agentTlsSecret" -}}{{ include "tcpscope.fullname" . }}-agent-tls{{- end -}}
{{- define "tcpscope.queryTokenSecret" -}}{{ .Values.queryToken.existingSecret | default (printf "%s-query-token" (include "tcpscope.fullname" .)) }}{{- end -}}
{{- define "tcpscope.priorityClassName" -}}{{ .Values.agent.priorityClass.name | default (printf "%s-agent" (include "tcpscope.fullname" .)) }}{{- end -}}

{{/* The collector's in-cluster DNS name: agents dial it and its certificate names it. */}}
{{- define "tcpscope.collectorHost" -}}{{ include "tcpscope.collectorName" . }}.{{ .Release.Namespace }}.svc{{- end -}}

{{/* registry/repository:tag or @digest; call with (dict "ctx" $ "image" .Values.agent.image). */}}
{{- define "tcpscope.image" -}}
{{- $registry := .ctx.Values.image.registry -}}
{{- $repo := required "an image repository is required" .image.repository -}}
{{- $ref := ternary (printf "%s/%s" $registry $repo) $repo (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
The env var of each setting the values may tune (agent.config, collector.config): the
names in common/config.ts (test/chart checks these tables against that file).
*/}}
{{- define "tcpscope.agentConfigEnv" -}}
scope: TCPSCOPE_SCOPE
batchMaxEvents: TCPSCOPE_BATCH_MAX_EVENTS
batchFlushMs: TCPSCOPE_BATCH_FLUSH_MS
bufferMaxBatches: TCPSCOPE_BUFFER_MAX_BATCHES
bufferMaxBytes: TCPSCOPE_BUFFER_MAX_BYTES
maxInFlight: TCPSCOPE_MAX_IN_FLIGHT
mapKeysMax: BPFTRACE_MAP_KEYS_MAX
sessions: TCPSCOPE_SESSIONS
flowIntervalMs: TCPSCOPE_FLOW_INTERVAL_MS
retransmitLimit: TCPSCOPE_RETRANSMIT_LIMIT
{{- end -}}

{{- define "tcpscope.collectorConfigEnv" -}}
ringSize: TCPSCOPE_RING_SIZE
bucketSeconds: TCPSCOPE_BUCKET_SECONDS
checkpointSeconds: TCPSCOPE_CHECKPOINT_SECONDS
memoryRetentionMinutes: TCPSCOPE_MEMORY_RETENTION_MINUTES
metricsMaxSeries: TCPSCOPE_METRICS_MAX_SERIES
maxBatchEvents: TCPSCOPE_MAX_BATCH_EVENTS
maxMessageBytes: TCPSCOPE_MAX_MESSAGE_BYTES
deletedPodRetentionSeconds: TCPSCOPE_DELETED_POD_RETENTION_SECONDS
retentionHours: TCPSCOPE_RETENTION_HOURS
storeMaxBytes: TCPSCOPE_STORE_MAX_BYTES
{{- end -}}

{{/* env entries for a config map; call with (dict "config" .Values.agent.config "table" "tcpscope.agentConfigEnv" "path" "agent.config" "ctx" $). */}}
{{- define "tcpscope.configEnv" -}}
{{- $table := include .table .ctx | fromYaml -}}
{{- range $key := keys .config | sortAlpha }}
{{- $value := get $.config $key }}
{{- if kindIs "float64" $value }}{{ $value = int64 $value }}{{ end }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ get $table $key | required (printf "%s.%s is not a setting of the program" $.path $key) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}
