// helm-render renders a Helm chart as `helm template --include-crds` does, with Go's
// text/template, sprig and the Helm functions a chart may use (include, tpl, required, toYaml,
// fromYaml, toJson, fromJson, lookup), so a chart is checked where no helm binary can be
// installed. Built from Debian's packages only (golang-go, golang-github-masterminds-sprig-dev,
// golang-k8s-sigs-yaml-dev), in GOPATH mode: see test/support/helm.ts.
//
//	helm-render [--name N] [--namespace NS] [--kube-version 1.30.0] [-f values.yaml]... CHART
//
// Prints the manifests to stdout (`---\n# Source: <chart>/<path>\n<document>` each, CRDs first,
// then the templates' documents in Helm's install order); with --notes, NOTES.txt after them.
// A template error (`required`, `fail`, a parse error) exits 1 with Helm's message on stderr.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// Metadata is Chart.yaml as Helm exposes it to templates (.Chart.Name, .Chart.AppVersion, ...).
type Metadata struct {
	Name        string            `json:"name"`
	Home        string            `json:"home,omitempty"`
	Sources     []string          `json:"sources,omitempty"`
	Version     string            `json:"version"`
	Description string            `json:"description,omitempty"`
	Keywords    []string          `json:"keywords,omitempty"`
	Maintainers []map[string]any  `json:"maintainers,omitempty"`
	Icon        string            `json:"icon,omitempty"`
	APIVersion  string            `json:"apiVersion"`
	Condition   string            `json:"condition,omitempty"`
	Tags        string            `json:"tags,omitempty"`
	AppVersion  string            `json:"appVersion,omitempty"`
	Deprecated  bool              `json:"deprecated,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	KubeVersion string            `json:"kubeVersion,omitempty"`
	Type        string            `json:"type,omitempty"`
}

// Release is .Release.
type Release struct {
	Name      string
	Namespace string
	IsUpgrade bool
	IsInstall bool
	Revision  int
	Service   string
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string { return k.Version }

// GitVersion is Helm's deprecated alias of Version.
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has says whether an API version (or version/Kind) is known.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

// TemplateInfo is .Template.
type TemplateInfo struct {
	Name     string
	BasePath string
}

// Files is .Files: the chart's files outside templates/, by path relative to the chart.
type Files map[string][]byte

// Get returns a file's content ("" when absent), as Helm's.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Helm's install order (pkg/releaseutil/kind_sorter.go): kinds not listed come last.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func main() {
	name := flag.String("name", "cellium", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kube := flag.String("kube-version", "1.30.0", "Kubernetes version for .Capabilities")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt after the manifests")
	var valueFiles multiFlag
	flag.Var(&valueFiles, "f", "values file merged over the chart's values.yaml (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [--name N] [--namespace NS] [--kube-version V] [-f values.yaml]... CHART")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, *kube, valueFiles, *notes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func readYAMLMap(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// coalesce merges src over dst as Helm merges value files: maps deep, anything else replaced,
// and a null in src deletes the key.
func coalesce(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			coalesce(dm, sm)
			continue
		}
		dst[k] = v
	}
}

func render(chart, name, namespace, kube string, valueFiles []string, withNotes bool) (string, error) {
	chartBytes, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	var meta Metadata
	if err := yaml.UnmarshalStrict(chartBytes, &meta); err != nil {
		return "", fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return "", errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}
	values, err := readYAMLMap(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		over, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		coalesce(values, over)
	}
	kv := strings.SplitN(strings.TrimPrefix(kube, "v"), ".", 3)
	if len(kv) < 2 {
		return "", fmt.Errorf("--kube-version %q: want MAJOR.MINOR[.PATCH]", kube)
	}
	caps := Capabilities{
		KubeVersion: KubeVersion{Version: "v" + strings.TrimPrefix(kube, "v"), Major: kv[0], Minor: kv[1]},
		APIVersions: VersionSet{"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1"},
	}
	// Helm refuses a chart whose kubeVersion the cluster does not satisfy.
	if meta.KubeVersion != "" {
		c, err := semver.NewConstraint(meta.KubeVersion)
		if err != nil {
			return "", fmt.Errorf("Chart.yaml kubeVersion %q: %w", meta.KubeVersion, err)
		}
		v, err := semver.NewVersion(caps.KubeVersion.Version)
		if err != nil {
			return "", fmt.Errorf("--kube-version %q: %w", kube, err)
		}
		if !c.Check(v) {
			return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", meta.KubeVersion, caps.KubeVersion.Version)
		}
	}
	release := Release{Name: name, Namespace: namespace, IsInstall: true, Revision: 1, Service: "Helm"}

	// Every file of the chart: templates/ parsed into one set (so `define`s are shared),
	// crds/ printed first, the rest is .Files.
	files := Files{}
	templates := map[string]string{}
	var crds []string
	err = filepath.Walk(chart, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chart, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[path.Join(meta.Name, rel)] = string(b)
		case strings.HasPrefix(rel, "crds/"):
			crds = append(crds, rel)
			files[rel] = b
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		default:
			files[rel] = b
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(crds)

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := funcMap(root)
	root.Funcs(funcs)
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := root.New(n).Parse(templates[n]); err != nil {
			return "", fmt.Errorf("parse error in %q: %w", n, err)
		}
	}
	base := path.Join(meta.Name, "templates")
	type doc struct {
		source, content, kind string
	}
	var docs []doc
	var notes string
	sep := regexp.MustCompile(`(?:^|\s*\n)---\s*`)
	kindRe := regexp.MustCompile(`(?m)^kind:\s*["']?([A-Za-z0-9]+)`)
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		data := map[string]any{
			"Values":       values,
			"Release":      release,
			"Chart":        meta,
			"Capabilities": caps,
			"Files":        files,
			"Template":     TemplateInfo{Name: n, BasePath: base},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, data); err != nil {
			return "", cleanupError(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if path.Base(n) == "NOTES.txt" {
			notes = text
			continue
		}
		if !strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml") && !strings.HasSuffix(n, ".tpl") {
			continue
		}
		for _, d := range sep.Split(text, -1) {
			if strings.TrimSpace(d) == "" {
				continue
			}
			kind := ""
			if m := kindRe.FindStringSubmatch(d); m != nil {
				kind = m[1]
			}
			docs = append(docs, doc{source: n, content: strings.TrimSpace(d), kind: kind})
		}
	}
	order := map[string]int{}
	for i, k := range installOrder {
		order[k] = i
	}
	sort.SliceStable(docs, func(i, j int) bool {
		a, aok := order[docs[i].kind]
		b, bok := order[docs[j].kind]
		switch {
		case !aok && !bok:
			return docs[i].kind < docs[j].kind
		case !aok:
			return false
		case !bok:
			return true
		}
		return a < b
	})
	var out strings.Builder
	for _, c := range crds {
		out.WriteString("---\n# Source: " + path.Join(meta.Name, c) + "\n")
		out.WriteString(strings.TrimRight(string(files[c]), "\n") + "\n")
	}
	for _, d := range docs {
		out.WriteString("---\n# Source: " + d.source + "\n" + d.content + "\n")
	}
	if withNotes && notes != "" {
		out.WriteString("\nNOTES:\n" + notes)
	}
	return out.String(), nil
}

// cleanupError keeps Helm's wording of a `required` or `fail` failure: the message itself.
func cleanupError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "error calling required: "); i >= 0 {
		return fmt.Errorf("execution error: %s", msg[i+len("error calling required: "):])
	}
	if i := strings.LastIndex(msg, "error calling fail: "); i >= 0 {
		return fmt.Errorf("execution error: %s", msg[i+len("error calling fail: "):])
	}
	return err
}

func toYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]any {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]any {
	m := map[string]any{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// funcMap is sprig's text functions without env/expandenv (Helm removes them) plus Helm's own.
func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = func(msg string, v any) (any, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["include"] = func(name string, data any) (string, error) {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data any) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["lookup"] = func(string, string, string, string) (map[string]any, error) {
		return map[string]any{}, nil
	}
	return f
}
