{{/* Names: the StatefulSet, its headless Service and its pods share the fullname (todo-db). */}}
{{- define "replagent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "replagent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{/* 52, not 63: StatefulSet pods add "-N" and a controller-revision-hash label of ~11 chars. */}}

{{/* A CronJob's name: <fullname>-<suffix> (list: the root context, the suffix: backup,
     restore-check). The API server refuses CronJob names over 52 characters: the controller
     names each Job <cronjob>-<minutes since the epoch> (11 more), and a Job's name becomes its
     pods' job-name label (at most 63). A longer name keeps its suffix whole and cuts the
     fullname, adding 6 hex digits of the fullname's hash, so two sets whose names differ only
     past the cut keep CronJobs of their own. Short names stay as they are (todo-db-backup). */}}
{{- define "replagent.cronJobName" -}}
{{- $fullname := include "replagent.fullname" (index . 0) -}}
{{- $suffix := index . 1 -}}
{{- $name := printf "%s-%s" $fullname $suffix -}}
{{- if le (len $name) 52 -}}
{{- $name -}}
{{- else -}}
{{- $keep := sub 52 (add (len $suffix) 8) | int -}}
{{- printf "%s-%s-%s" ($fullname | trunc $keep | trimSuffix "-") ($fullname | sha256sum | trunc 6) $suffix -}}
{{- end -}}
{{- end -}}

{{- define "replagent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "replagent.labels" -}}
helm.sh/chart: {{ include "replagent.chart" . }}
app.kubernetes.io/name: {{ include "replagent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The database pods' template labels: the selector's plus managed-by, nothing that changes
     with a chart or app version (statefulset.yaml says why). */}}
{{- define "replagent.podLabels" -}}
{{ include "replagent.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The database pods. Backup Job pods carry component=backup, so no Service selects them. */}}
{{- define "replagent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "replagent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: database
{{- end -}}

{{/* The image every container runs: PostgreSQL 15 from Debian's packages with replagent inside
     (docker/Dockerfile.postgres, scripts/image-postgres). It is published nowhere: without
     image.repository, rendering fails with how to build and push it (`required`, which helm
     lint reports as INFO only). */}}
{{- define "replagent.image" -}}
{{- $repo := required "image.repository is required: the replagent-postgres image (PostgreSQL 15 with replagent) is not published, build it and push it to a registry your cluster pulls from, either `sudo scripts/image-postgres` (prints an OCI archive; push it with `skopeo copy oci-archive:<archive> docker://<registry>/replagent-postgres:<tag>`) or `docker build -f docker/Dockerfile.postgres -t <registry>/replagent-postgres:<tag> .` and `docker push`; then install with `--set image.repository=<registry>/replagent-postgres` (and image.tag if not the chart's appVersion)" .Values.image.repository -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A Kubernetes quantity (persistence.size: 8Gi, 500M, 1.5Ti, ...) in whole MiB. */}}
{{- define "replagent.quantityMiB" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $factors := dict "" 0.00000095367431640625 "Ki" 0.0009765625 "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "Pi" 1073741824.0 "k" 0.00095367431640625 "M" 0.95367431640625 "G" 953.67431640625 "T" 953674.31640625 "P" 953674316.40625 -}}
{{- if not (hasKey $factors $unit) -}}{{- fail (printf "persistence.size: %q is not a quantity such as 8Gi" $q) -}}{{- end -}}
{{- mulf (float64 $num) (get $factors $unit) | floor | int64 -}}
{{- end -}}

{{- define "replagent.secretName" -}}
{{- default (printf "%s-auth" (include "replagent.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "replagent.primaryPod" -}}
{{- printf "%s-%d" (include "replagent.fullname" .) (int .Values.primaryOrdinal) -}}
{{- end -}}

{{/* Paths shared by every container that runs replagent. */}}
{{- define "replagent.dataMount" -}}/var/lib/postgresql/data{{- end -}}
{{- define "replagent.pgdata" -}}/var/lib/postgresql/data/pgdata{{- end -}}
{{- define "replagent.bin" -}}/usr/local/bin/replagent{{- end -}}
{{- define "replagent.secretDir" -}}/etc/replagent/secrets{{- end -}}

{{/* Each role's password is a volume of its own, mounted only into the containers that use
     it (list: the root context, then role names among superuser, replication, monitor,
     backup): init holds all four (it creates the roles), the sidecar and the probe the
     monitoring role's (and, until replicas measure lag without it, the replication role's),
     the backup Job the backup role's only. */}}
{{- define "replagent.secretKey" -}}
{{- $a := (index . 0).Values.auth -}}
{{- get (dict "superuser" $a.superuserPasswordKey "replication" $a.replicationPasswordKey "monitor" $a.monitorPasswordKey "backup" $a.backupPasswordKey "app" $a.appPasswordKey) (index . 1) -}}
{{- end -}}
{{- define "replagent.secretVolumes" -}}
{{- $ctx := index . 0 -}}
{{- range $role := rest . }}
- name: secret-{{ $role }}
  secret:
    secretName: {{ include "replagent.secretName" $ctx }}
    defaultMode: 0440
    items:
      - key: {{ include "replagent.secretKey" (list $ctx $role) }}
        path: password
{{- end }}
{{- end -}}
{{- define "replagent.secretMounts" -}}
{{- $ctx := index . 0 -}}
{{- range $role := rest . }}
- name: secret-{{ $role }}
  mountPath: {{ include "replagent.secretDir" $ctx }}/{{ $role }}
  readOnly: true
{{- end }}
{{- end -}}
{{- define "replagent.secretEnv" -}}
{{- $ctx := index . 0 -}}
{{- range $role := rest . }}
- name: REPLAGENT_POSTGRES_{{ upper $role }}_PASSWORD_FILE
  value: {{ include "replagent.secretDir" $ctx }}/{{ $role }}/password
{{- end }}
{{- end -}}

{{/* Pod security: the postgres image's uid/gid (999); fsGroup makes volumes and the mounted
     secret files (mode 0440) readable by every container of the pod. OnRootMismatch matters:
     a recursive fsGroup pass would add g+w inside PGDATA, and PostgreSQL refuses to start on
     a data directory with group write. */}}
{{- define "replagent.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
fsGroup: 999
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Every pod the chart makes: no Service environment variables (the kubelet would inject
     <SERVICE>_SERVICE_HOST/_PORT* for every Service of the namespace, which a release named
     replagent-... turns into look-alike REPLAGENT_* settings; replagent finds peers through
     DNS), and no API token (the pods never talk to the API server). */}}
{{- define "replagent.podIsolation" -}}
enableServiceLinks: false
automountServiceAccountToken: false
{{- end -}}

{{/* Argument: whether the root filesystem is read-only. */}}
{{- define "replagent.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ . }}
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The downward API: replagent's identity (pod.name, pod.namespace). */}}
{{- define "replagent.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* One value as TOML: numbers and booleans bare, everything else a quoted string. */}}
{{- define "replagent.tomlValue" -}}
{{- if or (kindIs "bool" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- . -}}
{{- else if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ $v | toString | toJson }}{{ end }}]
{{- else -}}
{{- . | toString | toJson -}}
{{- end -}}
{{- end -}}

{{/* Mounts of every container that runs replagent with PostgreSQL's tools. /tmp and the
     socket directory are emptyDirs, so the root filesystem can stay read-only. */}}
{{- define "replagent.commonMounts" -}}
- name: tmp
  mountPath: /tmp
- name: run
  mountPath: /var/run/postgresql
- name: config
  mountPath: /etc/replagent/replagent.toml
  subPath: replagent.toml
  readOnly: true
{{- end -}}

{{/* TLS (values.yaml tls): the Secret every database container mounts at tlsDir (tls.crt,
     tls.key, ca.crt; the chart's own also holds ca.key, which no pod mounts), and the names
     the set's certificate covers: for every ordinal below maxReplicas the pod name and its
     headless names, then the headless, -rw and -ro Services, each bare, .<ns>, .<ns>.svc and
     .<ns>.svc.<clusterDomain>, then localhost. Names, not wildcards: a wildcard covers one
     label (RFC 6125), so the short forms (todo-db-1, todo-db-1.todo-db) would need names
     anyway, and every verifier accepts names. A JSON list (include returns text). */}}
{{- define "replagent.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "replagent.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}
{{- define "replagent.tlsDir" -}}/etc/replagent/tls{{- end -}}
{{- define "replagent.tlsDnsNames" -}}
{{- $fullname := include "replagent.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $suffixes := list "" (printf ".%s" $ns) (printf ".%s.svc" $ns) (printf ".%s.svc.%s" $ns .Values.clusterDomain) -}}
{{- $names := list -}}
{{- range $i := until (int .Values.maxReplicas) -}}
{{- $pod := printf "%s-%d" $fullname $i -}}
{{- $names = append $names $pod -}}
{{- range $s := $suffixes -}}{{- $names = append $names (printf "%s.%s%s" $pod $fullname $s) -}}{{- end -}}
{{- end -}}
{{- range $svc := list $fullname (printf "%s-rw" $fullname) (printf "%s-ro" $fullname) (printf "%s-r" $fullname) -}}
{{- range $s := $suffixes -}}{{- $names = append $names (printf "%s%s" $svc $s) -}}{{- end -}}
{{- end -}}
{{- append $names "localhost" | toJson -}}
{{- end -}}
{{- define "replagent.tlsIPs" -}}["127.0.0.1", "::1"]{{- end -}}
{{- define "replagent.tlsMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "replagent.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* The pods' ServiceAccount (values serviceAccount). */}}
{{- define "replagent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "replagent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The label each sidecar sets on its own pod to its role (values roleLabel). */}}
{{- define "replagent.roleLabel" -}}replagent.io/role{{- end -}}
