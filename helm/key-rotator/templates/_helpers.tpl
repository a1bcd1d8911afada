{{- define "key-rotator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "key-rotator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "key-rotator.labels" -}}
app.kubernetes.io/name: {{ include "key-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "key-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "key-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "key-rotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "key-rotator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /*
The inventory's text for the ConfigMap. `inventory` is either the inventory as YAML under
`inventory:` in a values file, or its text as a string (what `--set-file inventory=inventory.yaml`
gives, kept verbatim). Either way it must list at least one credential: the worker refuses an
inventory without, so the chart fails here with a message instead of installing a crash-looping pod.
*/ -}}
{{- define "key-rotator.inventory" -}}
{{- $inventory := .Values.inventory -}}
{{- $parsed := $inventory -}}
{{- if kindIs "string" $inventory -}}
{{- $parsed = fromYaml $inventory -}}
{{- if hasKey $parsed "Error" -}}
{{- fail (printf "inventory: the text given is not a YAML mapping: %s" (get $parsed "Error")) -}}
{{- end -}}
{{- end -}}
{{- if not (and (kindIs "map" $parsed) (kindIs "slice" (get $parsed "credentials")) (get $parsed "credentials")) -}}
{{- fail "inventory: list at least one credential. Give the inventory with --set-file inventory=inventory.yaml, or under `inventory:` in a values file (see examples/inventory.yaml)" -}}
{{- end -}}
{{- if kindIs "string" $inventory -}}
{{- $inventory | trimSuffix "\n" -}}
{{- else -}}
{{- toYaml $inventory | trimSuffix "\n" -}}
{{- end -}}
{{- end -}}
