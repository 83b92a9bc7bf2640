{{- define "authzd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "authzd.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "authzd.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authzd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "authzd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Where the callers file and the files it names are mounted. */}}
{{- define "authzd.authDir" -}}/etc/authzd/auth{{- end -}}

{{/* Where the TLS Secret is mounted. */}}
{{- define "authzd.tlsDir" -}}/etc/authzd/tls{{- end -}}

{{/* Where the Secret holding the database URL is mounted (store: postgres). */}}
{{- define "authzd.databaseDir" -}}/etc/authzd/database{{- end -}}

{{/* Where the database server's CA certificates are mounted (postgres.caSecret). */}}
{{- define "authzd.databaseCaDir" -}}/etc/authzd/database-ca{{- end -}}

{{/* The Secret holding the callers file: the chart's own, or the one given; empty: none. */}}
{{- define "authzd.authSecretName" -}}
{{- if .Values.auth.callers -}}
{{- printf "%s-auth" (include "authzd.fullname" .) -}}
{{- else -}}
{{- .Values.auth.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the TLS files: the chart's own (tls.cert), or the one given; empty: none. */}}
{{- define "authzd.tlsSecretName" -}}
{{- if .Values.tls.cert -}}
{{- printf "%s-tls" (include "authzd.fullname" .) -}}
{{- else -}}
{{- .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL: the chart's own (postgres.url), or the one given; empty: none. */}}
{{- define "authzd.databaseSecretName" -}}
{{- if eq .Values.store "postgres" -}}
{{- if .Values.postgres.url -}}
{{- printf "%s-database" (include "authzd.fullname" .) -}}
{{- else -}}
{{- .Values.postgres.existingSecret -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The key of that Secret holding the URL; mounted as the file `url` either way. */}}
{{- define "authzd.databaseSecretKey" -}}
{{- if .Values.postgres.url -}}url{{- else -}}{{ .Values.postgres.existingSecretKey }}{{- end -}}
{{- end -}}

{{/* The image of authzd (the Dockerfile at the repository's root builds it). */}}
{{- define "authzd.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
Refuses values authzd cannot run with, with a message that says what to set. authzd
listens on 0.0.0.0 in the pod and exits at start without callers there, so the chart
needs callers or the explicit opt-out.
*/}}
{{- define "authzd.validate" -}}
{{- if and (kindIs "map" .Values.platformToken) (.Values.platformToken | default dict).existingSecret -}}
{{- fail "platformToken was removed: authzd now authenticates every caller. Add a caller with the `platform` scope to auth.callers or to the Secret in auth.existingSecret (see docs/security.md in the authzd repository) and drop platformToken" -}}
{{- end -}}
{{- if and .Values.auth.callers .Values.auth.existingSecret -}}
{{- fail "auth.callers and auth.existingSecret are both set: give the callers file one way" -}}
{{- end -}}
{{- if and .Values.auth.files (not .Values.auth.callers) -}}
{{- fail "auth.files goes into the chart's Secret with auth.callers; with auth.existingSecret, put those files into that Secret" -}}
{{- end -}}
{{- if and (not .Values.auth.callers) (not .Values.auth.existingSecret) (not .Values.auth.insecureAllowUnauthenticated) -}}
{{- fail "authzd needs callers: set auth.callers (the callers file's content) or auth.existingSecret (a Secret with the key callers.toml); see docs/security.md in the authzd repository. To accept calls from anyone who reaches the port instead, set auth.insecureAllowUnauthenticated=true" -}}
{{- end -}}
{{- if and (or .Values.tls.cert .Values.tls.key .Values.tls.ca) .Values.tls.existingSecret -}}
{{- fail "tls.cert/tls.key/tls.ca and tls.existingSecret are both set: give the TLS files one way" -}}
{{- end -}}
{{- if or (and .Values.tls.cert (not .Values.tls.key)) (and .Values.tls.key (not .Values.tls.cert)) (and .Values.tls.ca (not .Values.tls.cert)) -}}
{{- fail "inline TLS needs both tls.cert (the PEM chain) and tls.key (its PEM key); tls.ca only with them" -}}
{{- end -}}
{{- if and .Values.tls.clientCertificates (not (include "authzd.tlsSecretName" .)) -}}
{{- fail "tls.clientCertificates needs tls.existingSecret (with tls.crt, tls.key and ca.crt) or tls.cert, tls.key and tls.ca" -}}
{{- end -}}
{{- if and .Values.tls.clientCertificates .Values.tls.cert (not .Values.tls.ca) -}}
{{- fail "tls.clientCertificates with inline TLS needs tls.ca (the PEM bundle of the CAs that sign client certificates)" -}}
{{- end -}}
{{- if not (has .Values.store (list "redb" "postgres")) -}}
{{- fail (printf "store must be redb (the embedded database on a volume, one replica) or postgres (a PostgreSQL database that replicaCount replicas share), not %s" (toJson .Values.store)) -}}
{{- end -}}
{{- if eq .Values.store "redb" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "store: redb runs one replica (its database file on the volume is locked by one process), not replicaCount=%v: set replicaCount to 1, or store: postgres for several replicas sharing a PostgreSQL database" .Values.replicaCount) -}}
{{- end -}}
{{- if or .Values.postgres.url .Values.postgres.existingSecret .Values.postgres.caSecret -}}
{{- fail "postgres.url, postgres.existingSecret and postgres.caSecret are for store: postgres, but store is redb: set store: postgres to use the database, or drop the postgres values" -}}
{{- end -}}
{{- else -}}
{{- if and .Values.postgres.url .Values.postgres.existingSecret -}}
{{- fail "postgres.url and postgres.existingSecret are both set: give the database URL one way" -}}
{{- end -}}
{{- if and (not .Values.postgres.url) (not .Values.postgres.existingSecret) -}}
{{- fail "store: postgres needs the database URL (it holds the password, so it comes from a Secret): set postgres.existingSecret (a Secret with the URL under postgres.existingSecretKey, default `url`), or postgres.url for a Secret the chart manages" -}}
{{- end -}}
{{- end -}}
{{- range $key := list "store" "database_url" "database_url_file" "database_ca_file" -}}
{{- if hasKey $.Values.config.extra $key -}}
{{- fail (printf "config.extra.%s: the store is chosen by `store` and the database by postgres.* (the URL from a Secret, never in the ConfigMap); see the chart's README" $key) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.port)) -}}
{{- fail "metrics.port must differ from port (the gRPC port)" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled (the metrics listener it scrapes)" -}}
{{- end -}}
{{- end -}}

{{/*
The probe handler: gRPC health in plaintext; with TLS, an open port. With store: postgres
it asks for authz.v1.CheckService, which stays SERVING while the database is unreachable
(checks are answered from memory; the overall status and the services that write turn
NOT_SERVING until it returns).
*/}}
{{- define "authzd.probe" -}}
{{- if include "authzd.tlsSecretName" . -}}
tcpSocket:
  port: grpc
{{- else -}}
grpc:
  port: {{ .Values.port }}
{{- if eq .Values.store "postgres" }}
  service: authz.v1.CheckService
{{- end }}
{{- end -}}
{{- end -}}

{{/* authzd.toml from the typed values (file keys as in docs/configuration.md). */}}
{{- define "authzd.configBase" -}}
{{- $tlsSecret := include "authzd.tlsSecretName" . -}}
listen = "0.0.0.0:{{ .Values.port }}"
data_dir = "/var/lib/authzd"
{{- if eq .Values.store "postgres" }}
store = "postgres"
database_url_file = "{{ include "authzd.databaseDir" . }}/url"
{{- if .Values.postgres.caSecret }}
database_ca_file = "{{ include "authzd.databaseCaDir" . }}/ca.crt"
{{- end }}
{{- end }}
log_format = {{ .Values.config.logFormat | quote }}
log_level = {{ .Values.config.logLevel | quote }}
shutdown_grace = {{ .Values.config.shutdownGrace | quote }}
max_batch_items = {{ .Values.config.maxBatchItems | int64 }}
consistency_wait = {{ .Values.config.consistencyWait | quote }}
checkpoint_every = {{ .Values.config.checkpointEvery | int64 }}
changelog_retention_age = {{ .Values.config.changelogRetentionAge | quote }}
changelog_retention_count = {{ .Values.config.changelogRetentionCount | int64 }}
changelog_retention_max_count = {{ .Values.config.changelogRetentionMaxCount | int64 }}
watch_buffer = {{ .Values.config.watchBuffer | int64 }}
watch_checkpoint_interval = {{ .Values.config.watchCheckpointInterval | quote }}
audit_retention_age = {{ .Values.config.auditRetentionAge | quote }}
lockout_threshold = {{ .Values.config.lockoutThreshold | int64 }}
lockout_duration = {{ .Values.config.lockoutDuration | quote }}
reload_interval = {{ .Values.config.reloadInterval | quote }}
max_request_bytes = {{ .Values.config.maxRequestBytes | int64 }}
max_concurrent_streams = {{ .Values.config.maxConcurrentStreams | int64 }}
max_connections = {{ .Values.config.maxConnections | int64 }}
keepalive_interval = {{ .Values.config.keepaliveInterval | quote }}
max_connection_age = {{ .Values.config.maxConnectionAge | quote }}
{{- if include "authzd.authSecretName" . }}
callers_file = "{{ include "authzd.authDir" . }}/callers.toml"
{{- end }}
insecure_allow_unauthenticated = {{ .Values.auth.insecureAllowUnauthenticated }}
{{- if $tlsSecret }}
tls_cert_file = "{{ include "authzd.tlsDir" . }}/tls.crt"
tls_key_file = "{{ include "authzd.tlsDir" . }}/tls.key"
{{- if .Values.tls.clientCertificates }}
tls_client_ca_file = "{{ include "authzd.tlsDir" . }}/ca.crt"
{{- end }}
{{- end }}
{{- if .Values.metrics.enabled }}
metrics_listen = "0.0.0.0:{{ .Values.metrics.port }}"
{{- end }}
{{- end -}}
