{{/*
Names and labels.

Kubernetes object names and label values are limited to 63 characters (DNS-1123 labels), so
every name below is cut to 63 and a trailing "-" left by the cut is removed. Helm itself limits
release names to 53 characters, leaving room for suffixes such as "-tls".
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "webhook-deployer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: fullnameOverride, else "<release>-<chart>", or just "<release>" when the
release name already contains the chart name (avoids "webhook-deployer-webhook-deployer").
*/}}
{{- define "webhook-deployer.fullname" -}}
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

{{/* "name-version" for the helm.sh/chart label ("+" is not allowed in label values). */}}
{{- define "webhook-deployer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "webhook-deployer.labels" -}}
helm.sh/chart: {{ include "webhook-deployer.chart" . }}
{{ include "webhook-deployer.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: immutable in a Deployment, so only name and instance. */}}
{{- define "webhook-deployer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webhook-deployer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "webhook-deployer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "webhook-deployer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the credentials: existingSecret, else the one this chart creates. */}}
{{- define "webhook-deployer.secretName" -}}
{{- default (include "webhook-deployer.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* true when the store is PostgreSQL, shared by several replicas. */}}
{{- define "webhook-deployer.usesPostgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* The rendered deployer.yaml: .Values.config, public_url defaulting to the Ingress host. */}}
{{- define "webhook-deployer.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if and (not $config.public_url) .Values.ingress.enabled .Values.ingress.host }}
{{- $_ := set $config "public_url" (printf "https://%s" .Values.ingress.host) }}
{{- end }}
{{- if not $config.public_url }}
{{- $_ := unset $config "public_url" }}
{{- end }}
{{- if and (not $config.default_service_account) .Values.rbac.leastPrivilege.enabled }}
{{- $_ := set $config "default_service_account" .Values.rbac.leastPrivilege.serviceAccount }}
{{- end }}
{{- if not $config.default_service_account }}
{{- $_ := unset $config "default_service_account" }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Checks that need more than the schema, with messages that say what to do.
Included by the Deployment, so every render runs them.
*/}}
{{- define "webhook-deployer.validate" -}}
{{- if and (not .Values.existingSecret) (not .Values.webhookSecret) }}
{{- fail "webhookSecret is required (the GitHub webhook's secret): set --set webhookSecret=... or existingSecret=<Secret with key GITHUB_WEBHOOK_SECRET>" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "webhook-deployer.usesPostgres" .)) }}
{{- fail (printf "replicaCount %d needs PostgreSQL: SQLite allows one writer per file. Set database.url or database.existingSecret, or replicaCount 1" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.host is required when ingress.enabled is true (GitHub delivers to https://<host>/webhooks/github)" }}
{{- end }}
{{- if and .Values.rbac.create (not .Values.rbac.clusterWide) (not .Values.rbac.namespaces) }}
{{- fail "rbac.namespaces must list at least one namespace when rbac.clusterWide is false" }}
{{- end }}
{{- if and .Values.azureWorkloadIdentity.enabled (not .Values.azureWorkloadIdentity.clientId) }}
{{- fail "azureWorkloadIdentity.clientId is required when azureWorkloadIdentity.enabled is true (the managed identity's client ID: az identity show --query clientId)" }}
{{- end }}
{{- if and .Values.image.digest .Values.image.tag }}
{{- fail "image.digest and image.tag are both set: the pods would run the digest and the tag would only mislead; set one" }}
{{- end }}
{{- if and .Values.rbac.create .Values.rbac.leastPrivilege.enabled (not .Values.rbac.namespaces) }}
{{- fail "rbac.namespaces must list the apps' namespaces when rbac.leastPrivilege.enabled is true (the deployer may impersonate ServiceAccounts only there)" }}
{{- end }}
{{- /* The deployer refuses these at start (DEPLOYER_NAMESPACE): say so at install instead. */}}
{{- range .Values.config.apps }}
{{- $namespaces := prepend (.allowed_namespaces | default list) (.namespace | default "") }}
{{- if and (has $.Release.Namespace $namespaces) (not .allow_deployer_namespace) }}
{{- fail (printf "config.apps: app %v may deploy into the deployer's own namespace %s, where its repository could take over the deployer: deploy it elsewhere, or set allow_deployer_namespace: true on it if that repository is as trusted as the deployer" .name $.Release.Namespace) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The image: "<repository>@<digest>" when image.digest is set (immutable, what admission
policies that require digests want), else "<repository>:<tag or appVersion>".
*/}}
{{- define "webhook-deployer.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* The Secret holding a kubeconfig for other clusters, if any. */}}
{{- define "webhook-deployer.kubeconfigSecret" -}}
{{- if .Values.kubeconfig.existingSecret }}
{{- .Values.kubeconfig.existingSecret }}
{{- else if .Values.kubeconfig.content }}
{{- printf "%s-kubeconfig" (include "webhook-deployer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Where that kubeconfig is mounted; KUBECONFIG names the file in it. */}}
{{- define "webhook-deployer.kubeconfigDir" -}}
/var/run/secrets/webhook-deployer/kubeconfig
{{- end }}

{{/*
Selector labels of one component (web, worker). The single `serve` Deployment keeps the
plain selector labels, so upgrading a SQLite install never changes its (immutable) selector.
*/}}
{{- define "webhook-deployer.componentSelectorLabels" -}}
{{ include "webhook-deployer.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
