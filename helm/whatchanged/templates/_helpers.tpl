{{- define "whatchanged.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "whatchanged.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "whatchanged.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "whatchanged.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "whatchanged.selectorLabels" -}}
app.kubernetes.io/name: {{ include "whatchanged.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "whatchanged.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "whatchanged.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* SQLite when no store URL is given. */}}
{{- define "whatchanged.sqlite" -}}
{{- if not .Values.store.url }}true{{ end }}
{{- end }}

{{- define "whatchanged.storeUrl" -}}
{{- default "sqlite+aiosqlite:////var/lib/whatchanged/whatchanged.db" .Values.store.url }}
{{- end }}

{{/* Refuse combinations that cannot work, with a message naming the value. */}}
{{- define "whatchanged.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.sharding.enabled) }}
{{- fail "replicaCount > 1 needs sharding.enabled=true (replicas share the series and elect a leader)" }}
{{- end }}
{{- if and .Values.sharding.enabled (include "whatchanged.sqlite" .) }}
{{- fail "sharding.enabled needs store.url of a shared PostgreSQL (postgresql://USER@HOST:5432/DB)" }}
{{- end }}
{{- if and .Values.store.url (not (hasPrefix "postgres" .Values.store.url)) }}
{{- fail "store.url must be a postgresql:// URL (leave it empty for SQLite on a volume)" }}
{{- end }}
{{- end }}

{{- define "whatchanged.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- $_ := set $cfg "store" (dict "url" (include "whatchanged.storeUrl" .) "retention" .Values.store.retention) }}
{{- if .Values.baseUrl }}{{ $_ := set $cfg "base_url" .Values.baseUrl }}{{ end }}
{{- if .Values.sharding.enabled }}
{{- $lease := dict "name" (printf "%s-leader" (include "whatchanged.fullname" .)) "duration" .Values.sharding.lease.duration "renew_deadline" .Values.sharding.lease.renewDeadline "retry_period" .Values.sharding.lease.retryPeriod }}
{{- $_ := set $cfg "cluster" (dict "replicas" (int .Values.replicaCount) "index_from_env" "POD_NAME" "leader" .Values.sharding.leader "heartbeat" .Values.sharding.heartbeat "member_ttl" .Values.sharding.memberTTL "checkpoint" .Values.sharding.checkpoint "lease" $lease) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{- define "whatchanged.podTemplate" -}}
metadata:
  labels:
    {{- include "whatchanged.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}{{ toYaml . | nindent 4 }}{{ end }}
  annotations:
    checksum/config: {{ include "whatchanged.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}{{ toYaml . | nindent 4 }}{{ end }}
spec:
  serviceAccountName: {{ include "whatchanged.serviceAccountName" . }}
  automountServiceAccountToken: true
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets: {{ toYaml . | nindent 4 }}
  {{- end }}
  securityContext: {{ toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: whatchanged
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "--config", "/etc/whatchanged/config.yaml"]
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        {{- if .Values.store.passwordSecret.name }}
        - name: PGPASSWORD
          valueFrom:
            secretKeyRef: {name: {{ .Values.store.passwordSecret.name }}, key: {{ .Values.store.passwordSecret.key }}}
        {{- end }}
        {{- range .Values.secretEnv }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef: {name: {{ .secretName }}, key: {{ .key }}}
        {{- end }}
      livenessProbe: {{ toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe: {{ toYaml .Values.readinessProbe | nindent 8 }}
      startupProbe: {{ toYaml .Values.startupProbe | nindent 8 }}
      resources: {{ toYaml .Values.resources | nindent 8 }}
      securityContext: {{ toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - {name: config, mountPath: /etc/whatchanged, readOnly: true}
        - {name: tmp, mountPath: /tmp}
        - {name: data, mountPath: /var/lib/whatchanged}
  volumes:
    - name: config
      configMap: {name: {{ include "whatchanged.fullname" . }}}
    - name: tmp
      emptyDir: {sizeLimit: 64Mi}
    {{- if and (include "whatchanged.sqlite" .) .Values.persistence.enabled }}
    - name: data
      persistentVolumeClaim: {claimName: {{ include "whatchanged.fullname" . }}}
    {{- else }}
    - name: data
      emptyDir: {sizeLimit: 256Mi}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector: {{ toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations: {{ toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity: {{ toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints: {{ toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
