{{/*
The pod template, shared by the StatefulSet (store: redb, the data volume from its claim)
and the Deployment (store: postgres, the database URL from a Secret).
*/}}
{{- define "authzd.podTemplate" -}}
{{- $postgres := eq .Values.store "postgres" -}}
metadata:
  labels:
    {{- include "authzd.selectorLabels" . | nindent 4 }}
  annotations:
    # A changed configuration rolls the pod.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if and $postgres .Values.postgres.url }}
    # authzd reads the database URL at start: a changed postgres.url rolls the pods.
    checksum/database: {{ include (print $.Template.BasePath "/secret-database.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "authzd.serviceAccountName" . }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: authzd
      image: {{ include "authzd.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve"]
      env:
        - name: AUTHZD_CONFIG
          value: /etc/authzd/authzd.toml
        {{- if .Values.hugePages }}
        - name: GLIBC_TUNABLES
          value: glibc.malloc.hugetlb=1
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: grpc
          containerPort: {{ .Values.port }}
          protocol: TCP
        {{- if .Values.metrics.enabled }}
        # Prometheus metrics over plain HTTP (metrics_listen); no credential, no TLS.
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
        {{- end }}
      # gRPC health needs no credential. kubelet's gRPC probes speak plaintext only, so
      # with TLS they fall back to checking that the port accepts connections.
      {{- if $postgres }}
      # On PostgreSQL they ask for authz.v1.CheckService: while the database is unreachable
      # a replica goes on answering checks from memory (and refuses writes, whose services
      # report NOT_SERVING), so it stays ready and is not restarted.
      {{- end }}
      startupProbe:
        {{- include "authzd.probe" . | nindent 8 }}
        periodSeconds: 2
        failureThreshold: 60
      readinessProbe:
        {{- include "authzd.probe" . | nindent 8 }}
        periodSeconds: 5
      livenessProbe:
        {{- include "authzd.probe" . | nindent 8 }}
        periodSeconds: 10
        failureThreshold: 6
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/authzd
        # A file, not the directory: the Secrets below mount beside it. A changed
        # configuration rolls the pod (checksum/config) rather than updating in place.
        - name: config
          mountPath: /etc/authzd/authzd.toml
          subPath: authzd.toml
          readOnly: true
        {{- if include "authzd.authSecretName" . }}
        # Updated in place by kubelet when the Secret changes; authzd reloads it.
        - name: auth
          mountPath: {{ include "authzd.authDir" . }}
          readOnly: true
        {{- end }}
        {{- if include "authzd.tlsSecretName" . }}
        - name: tls
          mountPath: {{ include "authzd.tlsDir" . }}
          readOnly: true
        {{- end }}
        {{- if $postgres }}
        # The database URL (database_url_file), read at start.
        - name: database
          mountPath: {{ include "authzd.databaseDir" . }}
          readOnly: true
        {{- if .Values.postgres.caSecret }}
        - name: database-ca
          mountPath: {{ include "authzd.databaseCaDir" . }}
          readOnly: true
        {{- end }}
        {{- end }}
  volumes:
    {{- if $postgres }}
    # authzd keeps no state here with PostgreSQL: a scratch directory (e.g. for an export).
    - name: data
      emptyDir: {}
    {{- end }}
    - name: config
      configMap:
        name: {{ include "authzd.fullname" . }}
    {{- with include "authzd.authSecretName" . }}
    - name: auth
      secret:
        secretName: {{ . }}
        defaultMode: 0440
    {{- end }}
    {{- with include "authzd.tlsSecretName" . }}
    - name: tls
      secret:
        secretName: {{ . }}
        defaultMode: 0440
    {{- end }}
    {{- if $postgres }}
    - name: database
      secret:
        secretName: {{ include "authzd.databaseSecretName" . }}
        defaultMode: 0440
        items:
          - key: {{ include "authzd.databaseSecretKey" . }}
            path: url
    {{- with .Values.postgres.caSecret }}
    - name: database-ca
      secret:
        secretName: {{ . }}
        defaultMode: 0440
        items:
          - key: ca.crt
            path: ca.crt
    {{- end }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
