package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
)

//go:generate go run ./gen-reference ../../configs/reference.toml

// Reference is the config reference: every key of the schema with its
// type, default and meaning, as TOML. The meanings are the schema's field
// comments, read from the Go files in srcDir (this package's directory),
// so the reference cannot drift from the code that reads the keys;
// configs/reference.toml is its output, and a test compares the two.
func Reference(srcDir string) (string, error) {
	docs, err := fieldDocs(srcDir)
	if err != nil {
		return "", err
	}
	v := viper.New()
	defaults(v)
	var b strings.Builder
	b.WriteString(`# uplinkd configuration reference: every key, its type, its default and what
# it means. Generated from the schema in ctrl/config (go generate
# ./ctrl/config); do not edit. Keys with a default are shown set to it;
# keys without one are commented out. Rates take SI prefixes ("10G",
# "1.5M"), durations Go's units ("10ms", "2s"). Each key says whether a
# running uplinkd takes a new value on reload (SIGHUP or uplinkctl reload)
# or needs a restart.
`)
	writeTable(&b, reflect.TypeOf(Config{}), "", docs, v)
	return b.String(), nil
}

// fieldDocs maps type name -> field name -> the field's comment.
func fieldDocs(dir string) (map[string]map[string]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	docs := map[string]map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			m := map[string]string{}
			for _, fld := range st.Fields.List {
				text := ""
				if fld.Doc != nil {
					text = strings.TrimSpace(fld.Doc.Text())
				} else if fld.Comment != nil {
					text = strings.TrimSpace(fld.Comment.Text())
				}
				for _, name := range fld.Names {
					m[name.Name] = text
				}
			}
			docs[ts.Name.Name] = m
			return true
		})
	}
	return docs, nil
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	bitRateType  = reflect.TypeOf(BitRate(0))
	pktRateType  = reflect.TypeOf(PacketRate(0))
)

// writeTable writes the keys of struct type t under prefix ("" at the
// top), then its sub-tables.
func writeTable(b *strings.Builder, t reflect.Type, prefix string, docs map[string]map[string]string, v *viper.Viper) {
	type sub struct {
		key   string
		typ   reflect.Type
		array bool
		doc   string
	}
	var subs []sub
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		full := strings.TrimPrefix(prefix+"."+key, ".")
		doc := docs[t.Name()][f.Name]
		ft := f.Type
		if ft.Kind() == reflect.Pointer { // a key that may be left out: shown as its value's type
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			subs = append(subs, sub{full, ft, false, doc})
			continue
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			subs = append(subs, sub{full, ft.Elem(), true, doc})
			continue
		}
		if doc == "" {
			doc = "UNDOCUMENTED"
		}
		writeComment(b, doc)
		fmt.Fprintf(b, "# type: %s; %s\n", typeName(ft), reloadNote(full))
		if val := v.Get(full); val != nil && !strings.Contains(prefix, "[") {
			fmt.Fprintf(b, "%s = %s\n\n", key, tomlValue(val, ft))
		} else {
			fmt.Fprintf(b, "# %s = %s\n\n", key, tomlZero(ft))
		}
	}
	sort.SliceStable(subs, func(i, j int) bool { return !subs[i].array && subs[j].array })
	for _, s := range subs {
		b.WriteString("\n")
		writeComment(b, s.doc)
		if s.array {
			fmt.Fprintf(b, "[[%s]]\n", s.key)
			writeTable(b, s.typ, s.key+"[]", docs, v)
		} else if strings.Contains(prefix, "[") && s.typ == reflect.TypeOf(DoS{}) {
			fmt.Fprintf(b, "# [%s]: the keys of [dos], each overriding it (a key left out\n# inherits; one set, to 0 too, is the table's own)\n", strings.ReplaceAll(s.key, "[]", ""))
		} else {
			fmt.Fprintf(b, "[%s]\n", strings.ReplaceAll(s.key, "[]", ""))
			writeTable(b, s.typ, s.key, docs, v)
		}
	}
}

// reloadNote says whether a reload changes the key.
func reloadNote(key string) string {
	if KeyReloads(key) {
		return "reloads (SIGHUP, uplinkctl reload)"
	}
	return "fixed while uplinkd runs"
}

func writeComment(b *strings.Builder, doc string) {
	for _, line := range strings.Split(doc, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(b, "# %s\n", line)
		}
	}
}

func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case bitRateType:
		return "bit rate (bit/s)"
	case pktRateType:
		return "packet rate (packets/s)"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Float64:
		return "number"
	case reflect.Int:
		return "integer"
	}
	return t.Kind().String()
}

func tomlValue(val any, t reflect.Type) string {
	switch x := val.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []int:
		return strings.ReplaceAll(fmt.Sprint(x), " ", ", ")
	}
	if t == bitRateType || t == pktRateType {
		return fmt.Sprintf("%q", fmt.Sprint(val))
	}
	return fmt.Sprint(val)
}

func tomlZero(t reflect.Type) string {
	switch {
	case t == durationType, t == bitRateType, t == pktRateType, t.Kind() == reflect.String:
		return `""`
	case t.Kind() == reflect.Slice:
		return "[]"
	case t.Kind() == reflect.Pointer, t.Kind() == reflect.Bool:
		return "false"
	}
	return "0"
}
