{{/* The labels every object of the chart carries. */}}
{{- define "cellium.labels" -}}
app.kubernetes.io/name: cellium-agent
app.kubernetes.io/part-of: cellium
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The agent pods' selector label (Cilium's k8s-app; a DaemonSet's selector never changes). */}}
{{- define "cellium.selectorLabels" -}}
k8s-app: cellium
{{- end }}

{{/* The agent's ServiceAccount: the one created, or an existing one by name. */}}
{{- define "cellium.serviceAccountName" -}}
{{- required "serviceAccounts.cellium.name is required" .Values.serviceAccounts.cellium.name }}
{{- end }}

{{/* The agent image. */}}
{{- define "cellium.image" -}}
{{- printf "%s:%s" (required "image.repository is required" .Values.image.repository) (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the chart mounts cgroup v2 in the agent's container (the host's /sys/fs/cgroup). */}}
{{- define "cellium.cgroupRoot" -}}
/run/cellium/cgroupv2
{{- end }}
