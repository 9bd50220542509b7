{{/* Names and labels (Helm's recommended app.kubernetes.io/* set). */}}
{{- define "costobs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "costobs.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "costobs.versionLabels" . }}
{{- end -}}

{{- define "costobs.versionLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* A pod's labels: its role's selector plus the version labels. */}}
{{- define "costobs.podLabels" -}}
{{ include "costobs.selector" . }}
{{ include "costobs.versionLabels" .root }}
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "role" "ingest") */}}
{{- define "costobs.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "costobs.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* COSTOBS_NATS_URL: the chart's own cluster (every node) or the configured URL. */}}
{{- define "costobs.natsURL" -}}
{{- if .Values.nats.deploy.enabled -}}
{{- $name := printf "%s-nats" (include "costobs.fullname" .) -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.nats.deploy.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc:4222" $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- required "nats.url is required (or nats.deploy.enabled)" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every role. */}}
{{- define "costobs.env" -}}
- name: COSTOBS_MODE
  value: server
- name: COSTOBS_PRODUCTION
  value: "true"
- name: COSTOBS_HOST
  value: 0.0.0.0
- name: COSTOBS_DATA_DIR
  value: /var/lib/costobs
- name: COSTOBS_NATS_URL
  value: {{ include "costobs.natsURL" . | quote }}
- name: COSTOBS_NATS_STREAM_REPLICAS
  value: {{ .Values.nats.streamReplicas | quote }}
{{- with .Values.clickhouse.cluster }}
- name: COSTOBS_CLICKHOUSE_CLUSTER
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "costobs.envFrom" -}}
{{- with .Values.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec every role shares: (dict "root" $ "role" "ingest" "args" (list "ingest")
     "port" 8080 "probePath" "/healthz" "resources" {...} "extraEnv" (list ...)) */}}
{{- define "costobs.podSpec" -}}
{{- $root := .root }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
containers:
  - name: {{ .role }}
    image: {{ include "costobs.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      {{- include "costobs.env" $root | nindent 6 }}
      {{- with .extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- $envFrom := include "costobs.envFrom" $root | trim }}
    {{- if $envFrom }}
    envFrom:
      {{- $envFrom | nindent 6 }}
    {{- end }}
    {{- if .port }}
    ports:
      - name: http
        containerPort: {{ .port }}
        protocol: TCP
    readinessProbe:
      httpGet:
        path: {{ .probePath }}
        port: http
      periodSeconds: 5
      failureThreshold: 3
    livenessProbe:
      httpGet:
        path: {{ .probePath }}
        port: http
      initialDelaySeconds: 30
      periodSeconds: 10
      failureThreshold: 6
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: home
        mountPath: /var/lib/costobs
      {{- with .mounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: home
    emptyDir: {}
  {{- with .volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A role's Deployment, Service (when it listens) and PodDisruptionBudget. */}}
{{- define "costobs.role" -}}
{{- $root := .root -}}
{{- $name := printf "%s-%s" (include "costobs.fullname" $root) .role -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "costobs.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "costobs.selector" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "costobs.podLabels" . | nindent 8 }}
    spec:
      {{- include "costobs.podSpec" . | nindent 6 }}
{{- if .port }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "costobs.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  type: {{ $root.Values.service.type }}
  selector:
    {{- include "costobs.selector" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "costobs.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  {{- toYaml .pdb | nindent 2 }}
  selector:
    matchLabels:
      {{- include "costobs.selector" . | nindent 6 }}
{{- end -}}
