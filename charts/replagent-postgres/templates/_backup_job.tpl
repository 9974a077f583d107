{{/* A CronJob that runs `replagent backup [ARGS]` inside the postgres image, on the backup
     volume: the backup itself and the optional restore check share everything but these
     parameters (a dict):
       ctx             the root context
       name            the CronJob's name suffix (replagent.cronJobName) and container name
                       (backup, restore-check)
       component       app.kubernetes.io/component of the CronJob, its Jobs and pods
       schedule        cron schedule
       suspend         bool
       args            list: arguments after `backup` (none: no args field)
       extraEnv        list of EnvVar objects after the shared ones (may be empty)
       tmpSize         sizeLimit of the /tmp emptyDir
       backupReadOnly  bool: mount the backup volume (and claim) read-only
       secretRoles     list: the roles whose passwords the container mounts (backup, or none)
     History limits, deadlines, backoff, TTL, time zone and resources come from backup.*. */}}
{{- define "replagent.backupCronJob" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $fullname := include "replagent.fullname" $ctx -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "replagent.cronJobName" (list $ctx .name) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "replagent.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  schedule: {{ .schedule | quote }}
  {{- with $v.backup.timeZone }}
  timeZone: {{ . | quote }}
  {{- end }}
  suspend: {{ .suspend }}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ $v.backup.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $v.backup.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $v.backup.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "replagent.labels" $ctx | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
    spec:
      backoffLimit: {{ $v.backup.backoffLimit }}
      activeDeadlineSeconds: {{ $v.backup.activeDeadlineSeconds }}
      ttlSecondsAfterFinished: {{ $v.backup.ttlSecondsAfterFinished }}
      template:
        metadata:
          labels:
            {{- include "replagent.labels" $ctx | nindent 12 }}
            app.kubernetes.io/component: {{ .component }}
          annotations:
            checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
            checksum/backup-config: {{ include (print $ctx.Template.BasePath "/backup-config.yaml") $ctx | sha256sum }}
        spec:
          restartPolicy: Never
          {{- include "replagent.podIsolation" $ctx | nindent 10 }}
          securityContext:
            {{- include "replagent.podSecurityContext" $ctx | nindent 12 }}
          {{- with $v.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          containers:
            # pg_dump, pg_restore (and initdb, pg_ctl for the restore check) and replagent,
            # all in the one image.
            - name: {{ .name }}
              image: {{ include "replagent.image" $ctx }}
              imagePullPolicy: {{ $v.image.pullPolicy }}
              command: [{{ include "replagent.bin" $ctx | quote }}, "backup"]
              {{- with .args }}
              args:
                {{- toYaml . | nindent 16 }}
              {{- end }}
              # backup.* settings (backup-config.yaml), outside the StatefulSet's checksum.
              envFrom:
                - configMapRef:
                    name: {{ $fullname }}-backup
              env:
                {{- include "replagent.podEnv" $ctx | nindent 16 }}
                {{- include "replagent.secretEnv" (prepend .secretRoles $ctx) | nindent 16 }}
                # A Job's pod is no member of the set: the set (and the backup files' prefix)
                # comes from the headless Service's name (also in replagent.toml's pod.service).
                - name: REPLAGENT_POD_SERVICE
                  value: {{ $fullname }}
                {{- with .extraEnv }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
              terminationMessagePolicy: FallbackToLogsOnError
              securityContext:
                {{- include "replagent.containerSecurityContext" true | nindent 16 }}
              {{- with $v.backup.resources }}
              resources:
                {{- toYaml . | nindent 16 }}
              {{- end }}
              volumeMounts:
                {{- include "replagent.commonMounts" $ctx | nindent 16 }}
                {{- include "replagent.secretMounts" (prepend .secretRoles $ctx) | nindent 16 }}
                {{- include "replagent.tlsMount" $ctx | nindent 16 }}
                - name: backup
                  mountPath: /backup
                  {{- if .backupReadOnly }}
                  readOnly: true
                  {{- end }}
          volumes:
            - name: tmp
              emptyDir:
                sizeLimit: {{ .tmpSize }}
            - name: run
              emptyDir:
                sizeLimit: 16Mi
            - name: config
              configMap:
                name: {{ $fullname }}-config
            {{- include "replagent.secretVolumes" (prepend .secretRoles $ctx) | nindent 12 }}
            {{- if $v.tls.enabled }}
            # The set's CA only: pg_dump verifies the server it dumps (sslmode=verify-full).
            - name: tls
              secret:
                secretName: {{ include "replagent.tlsSecretName" $ctx }}
                defaultMode: 0440
                items:
                  - key: ca.crt
                    path: ca.crt
            {{- end }}
            - name: backup
              persistentVolumeClaim:
                claimName: {{ $v.backup.persistence.existingClaim | default (printf "%s-backup" $fullname) }}
                {{- if .backupReadOnly }}
                readOnly: true
                {{- end }}
{{- end -}}
