{{/*
The pod template every Deployment shares (serve, web, worker). Called with a dict:
  root        the chart's top context
  component   serve | web | worker
  args        the `webhook-deployer` arguments
  port        the container port named "http" (8080 web and serve, 8081 worker)
  ready       the readiness probe path
  selector    the Deployment's selector labels (rendered YAML)
  resources   the container resources
*/}}
{{- define "webhook-deployer.podTemplate" -}}
{{- $root := .root }}
{{- $values := $root.Values }}
{{- $postgres := include "webhook-deployer.usesPostgres" $root }}
{{- $secret := include "webhook-deployer.secretName" $root }}
{{- $kubeconfig := include "webhook-deployer.kubeconfigSecret" $root }}
metadata:
  annotations:
    # A change to the config or the chart's Secrets rolls the pods.
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- if $values.kubeconfig.content }}
    checksum/kubeconfig: {{ include (print $root.Template.BasePath "/kubeconfig-secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "webhook-deployer.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- if $values.azureWorkloadIdentity.enabled }}
    # The workload identity webhook injects AZURE_CLIENT_ID, AZURE_TENANT_ID and a
    # federated token file into pods with this label; kubelogin reads them.
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "webhook-deployer.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $values.serviceAccount.automount }}
  {{- with $values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  # Long enough for a running sync to finish its health wait after SIGTERM.
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  containers:
    - name: webhook-deployer
      image: {{ include "webhook-deployer.image" $root | quote }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      command:
        - webhook-deployer
      args:
        {{- toYaml .args | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ .port }}
          protocol: TCP
      env:
        - name: GITHUB_WEBHOOK_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ $secret }}
              key: GITHUB_WEBHOOK_SECRET
        {{- range list "GITHUB_TOKEN" "DEPLOYER_ADMIN_TOKEN" "GITHUB_APP_ID" "GITHUB_APP_PRIVATE_KEY" "GITHUB_APP_INSTALLATION_ID" }}
        - name: {{ . }}
          valueFrom:
            secretKeyRef:
              name: {{ $secret }}
              key: {{ . }}
              optional: true
        {{- end }}
        - name: DEPLOYER_DATABASE_URL
        {{- if $values.database.existingSecret }}
          valueFrom:
            secretKeyRef:
              name: {{ $values.database.existingSecret }}
              key: {{ $values.database.existingSecretKey }}
        {{- else if $values.database.url }}
          valueFrom:
            secretKeyRef:
              name: {{ include "webhook-deployer.fullname" $root }}
              key: DEPLOYER_DATABASE_URL
        {{- else }}
          value: sqlite:////var/lib/webhook-deployer/deployer.db
        {{- end }}
        {{- with $values.githubApiUrl }}
        - name: GITHUB_API_URL
          value: {{ . | quote }}
        {{- end }}
        - name: DEPLOYER_CACHE_DIR
          value: /var/cache/webhook-deployer
        {{- with $values.access.mode }}
        - name: DEPLOYER_AUTH
          value: {{ . | quote }}
        {{- end }}
        - name: DEPLOYER_LOG_LEVEL
          value: {{ $values.logLevel | quote }}
        - name: DEPLOYER_LOG_FORMAT
          value: {{ $values.logFormat | quote }}
        # Who the deployer is: the guard refuses apps that would deploy into this namespace
        # or run as, or bind, this ServiceAccount (README "The deployer protects itself").
        - name: DEPLOYER_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: DEPLOYER_SERVICE_ACCOUNT
          valueFrom:
            fieldRef:
              fieldPath: spec.serviceAccountName
        # The root filesystem is read-only: git and helm write their own files under HOME.
        - name: HOME
          value: /tmp
        {{- if $kubeconfig }}
        - name: KUBECONFIG
          value: {{ printf "%s/%s" (include "webhook-deployer.kubeconfigDir" $root) $values.kubeconfig.key | quote }}
        {{- end }}
        {{- with $values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml $values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: {{ .ready }}
          port: http
        {{- toYaml $values.readinessProbe | nindent 8 }}
      securityContext:
        {{- toYaml $values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/webhook-deployer
          readOnly: true
        - name: cache
          mountPath: /var/cache/webhook-deployer
        - name: tmp
          mountPath: /tmp
        {{- if not $postgres }}
        - name: data
          mountPath: /var/lib/webhook-deployer
        {{- end }}
        {{- if $kubeconfig }}
        - name: kubeconfig
          mountPath: {{ include "webhook-deployer.kubeconfigDir" $root }}
          readOnly: true
        {{- end }}
        {{- with $values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "webhook-deployer.fullname" $root }}
    - name: cache
      emptyDir: {}
    - name: tmp
      emptyDir: {}
    {{- if not $postgres }}
    - name: data
      {{- if $values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ $values.persistence.existingClaim | default (include "webhook-deployer.fullname" $root) }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    {{- if $kubeconfig }}
    - name: kubeconfig
      secret:
        secretName: {{ $kubeconfig }}
        defaultMode: 0440
    {{- end }}
    {{- with $values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.topologySpreadConstraints }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $constraint := deepCopy . }}
  {{- if not $constraint.labelSelector }}
  {{- /* Spread each component's own pods, not web and worker pods together. */}}
  {{- $_ := set $constraint "labelSelector" (dict "matchLabels" ($.selector | fromYaml)) }}
  {{- end }}
  {{- $constraints = append $constraints $constraint }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
{{- end }}
