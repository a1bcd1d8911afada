{{- define "key-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "key-rotator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "key-rotator.labels" -}}
app.kubernetes.io/name: {{ include "key-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
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

{{- /* registry/repository:tag, or @digest; the registry from image.registry or global.imageRegistry. */ -}}
{{- define "key-rotator.image" -}}
{{- $registry := .Values.image.registry | default ((.Values.global).imageRegistry) | default "" -}}
{{- $repository := .Values.image.repository -}}
{{- if $registry -}}{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "key-rotator.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) (((.Values.global).imagePullSecrets) | default list) -}}
{{- with $secrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{- /* The built-in vendors (vendors/*.yaml, in file order); test/chart checks this list against the registry. */ -}}
{{- define "key-rotator.vendors" -}}anthropic callcov datadog justcall sendgrid twilio{{- end -}}

{{- /*
The inventory's text for the ConfigMap. `inventory` is either the inventory as YAML under
`inventory:` in a values file, or its text as a string (what `--set-file inventory=inventory.yaml`
gives, kept verbatim). The chart refuses, with the worker's own wording, what would only crash-loop
the pods: no credential, a vendor the worker does not know, a credential without its required
fields. The full schema runs in the chart checks (scripts/chart-check.ts) and in `check-config`.
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
{{- $vendors := splitList " " (include "key-rotator.vendors" .) -}}
{{- $problems := list -}}
{{- /* The inventory's own definitions must be shipped under vendorDefinitions; their ids join the list. */ -}}
{{- range $i, $file := (get $parsed "vendorDefinitions" | default list) -}}
{{- $text := get $.Values.vendorDefinitions (toString $file) -}}
{{- if not $text -}}
{{- $problems = append $problems (printf "vendorDefinitions[%d]: %s is not under vendorDefinitions in the chart's values (--set-file 'vendorDefinitions.%s=<file>')" $i $file (toString $file | replace "." "\\.")) -}}
{{- else -}}
{{- $id := get (fromYaml $text) "id" -}}
{{- if $id -}}{{- $vendors = append $vendors (toString $id) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $c := get $parsed "credentials" -}}
{{- if not (kindIs "map" $c) -}}
{{- $problems = append $problems (printf "credentials[%d]: expected a mapping" $i) -}}
{{- else -}}
{{- range $field := list "id" "secretId" "baseUrl" -}}
{{- if not (and (hasKey $c $field) (kindIs "string" (get $c $field))) -}}
{{- $problems = append $problems (printf "credentials[%d].%s: Invalid input: expected string, received %s" $i $field (hasKey $c $field | ternary "another type" "undefined")) -}}
{{- end -}}
{{- end -}}
{{- if not (has (toString (get $c "vendor")) $vendors) -}}
{{- $problems = append $problems (printf "credentials[%d].vendor: expected vendor %s" $i (join " or " $vendors)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $problems -}}
{{- fail (printf "inventory: the worker would refuse it:\n  %s" (join "\n  " .)) -}}
{{- end -}}
{{- if kindIs "string" $inventory -}}
{{- $inventory | trimSuffix "\n" -}}
{{- else -}}
{{- toYaml $inventory | trimSuffix "\n" -}}
{{- end -}}
{{- end -}}

{{- /* The NetworkPolicy peers for a list of namespace names and optional pod labels. */ -}}
{{- define "key-rotator.peers" -}}
{{- range .namespaces }}
- namespaceSelector:
    matchLabels: { kubernetes.io/metadata.name: {{ . | quote }} }
  {{- with $.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- end }}
{{- end -}}
