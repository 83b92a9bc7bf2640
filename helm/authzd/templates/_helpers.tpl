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

{{/* The Secret holding the callers file: the chart's own, or the one given; empty: none. */}}
{{- define "authzd.authSecretName" -}}
{{- if .Values.auth.callers -}}
{{- printf "%s-auth" (include "authzd.fullname" .) -}}
{{- else -}}
{{- .Values.auth.existingSecret -}}
{{- end -}}
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
{{- if and .Values.tls.clientCertificates (not .Values.tls.existingSecret) -}}
{{- fail "tls.clientCertificates needs tls.existingSecret (with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- end -}}

{{/* The probe handler: gRPC health in plaintext; with TLS, an open port. */}}
{{- define "authzd.probe" -}}
{{- if .Values.tls.existingSecret -}}
tcpSocket:
  port: grpc
{{- else -}}
grpc:
  port: {{ .Values.port }}
{{- end -}}
{{- end -}}
