// render: a small stand-in for `helm template`, for the chart tests (no helm binary here).
// Go text/template + sprig + helm's own functions (include, tpl, required, toYaml, fromYaml,
// toJson, fromJson, lookup = empty), .Release, .Chart, .Values (values.yaml deep-merged with
// -f files, then checked against values.schema.json as helm does), .Capabilities, .Files,
// .Template. Prints JSON: {"objects": [{"template", "object"}], "notes", "values"}.
// Built by test/chart/renderer.ts with Debian's Go libraries in GOPATH mode.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// APIVersions answers .Capabilities.APIVersions.Has the way helm does.
type APIVersions []string

func (a APIVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// Files is .Files: chart files by path relative to the chart.
type Files struct{ root string }

func (f Files) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(b)
}
func (f Files) GetBytes(name string) []byte { return []byte(f.Get(name)) }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		fail("%s: %v", path, err)
	}
	return out
}

// coalesce merges src over dst like helm: maps merge key by key, a null deletes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

var chartKeys = map[string]string{"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion"}

func main() {
	var files valueFiles
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("release", "tcpscope", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.29.0", "Kubernetes version for .Capabilities")
	apiVersions := flag.String("api-versions", "", "comma-separated extra API versions for .Capabilities.APIVersions")
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fail("-chart is required")
	}

	// .Chart from Chart.yaml, keys as helm's chart.Metadata fields (name -> Name)
	chartYAML := readYAML(filepath.Join(*chartDir, "Chart.yaml"))
	chart := map[string]interface{}{}
	for k, v := range chartYAML {
		name, ok := chartKeys[k]
		if !ok {
			name = strings.ToUpper(k[:1]) + k[1:]
		}
		chart[name] = v
	}
	if c, ok := chartYAML["kubeVersion"].(string); ok && c != "" {
		constraint, err := semver.NewConstraint(c)
		if err != nil {
			fail("Chart.yaml kubeVersion %q: %v", c, err)
		}
		if !constraint.Check(semver.MustParse(*kubeVersion)) {
			fail("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c, *kubeVersion)
		}
	}

	values := readYAML(filepath.Join(*chartDir, "values.yaml"))
	for _, f := range files {
		values = coalesce(values, readYAML(f))
	}
	if schema, err := os.ReadFile(filepath.Join(*chartDir, "values.schema.json")); err == nil {
		res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewGoLoader(values))
		if err != nil {
			fail("values.schema.json: %v", err)
		}
		if !res.Valid() {
			var msgs []string
			for _, e := range res.Errors() {
				msgs = append(msgs, "- "+e.String())
			}
			fail("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", chart["Name"], strings.Join(msgs, "\n"))
		}
	}

	sv := semver.MustParse(*kubeVersion)
	apis := APIVersions{"v1", "apps/v1", "batch/v1", "policy/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "scheduling.k8s.io/v1", "authentication.k8s.io/v1"}
	for _, a := range strings.Split(*apiVersions, ",") {
		if a != "" {
			apis = append(apis, a)
		}
	}
	top := map[string]interface{}{
		"Values":  values,
		"Chart":   chart,
		"Release": map[string]interface{}{"Name": *release, "Namespace": *namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": *kubeVersion, "GitVersion": *kubeVersion, "Major": fmt.Sprint(sv.Major()), "Minor": fmt.Sprint(sv.Minor())},
			"APIVersions": apis,
		},
		"Files": Files{root: *chartDir},
	}

	// every file under templates/ is parsed into one set; names as helm's: <chart>/templates/<file>
	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includedDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includedDepth++
		defer func() { includedDepth-- }()
		if includedDepth > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
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
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, fmt.Errorf(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, fmt.Errorf(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", fmt.Errorf(msg) }
	root.Funcs(funcs).Option("missingkey=zero")

	tdir := filepath.Join(*chartDir, "templates")
	var names []string
	err := filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(*chartDir, p)
		name := fmt.Sprintf("%s/%s", chart["Name"], filepath.ToSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := root.New(name).Parse(string(b)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	sort.Strings(names)

	type object struct {
		Template string      `json:"template"`
		Object   interface{} `json:"object"`
	}
	out := struct {
		Objects []object               `json:"objects"`
		Notes   string                 `json:"notes"`
		Values  map[string]interface{} `json:"values"`
	}{Objects: []object{}, Values: values}
	docSep := regexp.MustCompile(`(?m)^---\s*$`)
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": fmt.Sprintf("%s/templates", chart["Name"])}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			fail("%v", err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.Notes = text
			continue
		}
		for i, doc := range docSep.Split(text, -1) {
			var obj map[string]interface{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				fail("%s (document %d): %v\n%s", name, i, err, doc)
			}
			if len(obj) == 0 {
				continue
			}
			out.Objects = append(out.Objects, object{Template: name, Object: obj})
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
}
