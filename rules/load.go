package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/inputfile"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// LoadOptions says which rules Load reads.
type LoadOptions struct {
	// Builtin loads the embedded pack first.
	Builtin bool
	// Paths are rule files and directories (see LoadPaths).
	Paths []string
}

// Load reads the built-in pack (when o.Builtin) and then the rules under o.Paths. A
// user rule with a built-in rule's id replaces it in place; duplicate ids among the
// user's rules are errors. Every problem found is reported, joined, each with its file
// and line.
func Load(o LoadOptions) ([]*Rule, error) {
	var errs []error
	var base []*Rule
	if o.Builtin {
		b, err := Builtin()
		if err != nil {
			errs = append(errs, err)
		}
		base = b
	}
	user, err := LoadPaths(o.Paths...)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return override(base, user), nil
}

// override returns base with each rule of user replacing the base rule of the same id
// (in its place) or, if there is none, appended.
func override(base, user []*Rule) []*Rule {
	out := make([]*Rule, len(base), len(base)+len(user))
	copy(out, base)
	at := make(map[string]int, len(base))
	for i, r := range base {
		at[r.ID] = i
	}
	for _, r := range user {
		if i, ok := at[r.ID]; ok {
			out[i] = r
			continue
		}
		out = append(out, r)
	}
	return out
}

// LoadPaths loads rules from files and directories. A file loads whatever its
// extension; a directory loads every *.yaml, *.yml and *.json in it, in name order, not
// recursing and skipping hidden names (such as a Kubernetes ConfigMap's "..data").
// Duplicate ids are errors naming both places; all errors are joined.
func LoadPaths(paths ...string) ([]*Rule, error) {
	var all []*Rule
	var errs []error
	for _, p := range paths {
		files, ferrs := ruleFiles(p)
		errs = append(errs, ferrs...)
		for _, f := range files {
			data, err := inputfile.Read(f, MaxFileBytes)
			if err != nil {
				errs = append(errs, &yamlpos.Error{File: f, Err: fmt.Errorf("read rules: %w", err)})
				continue
			}
			rs, err := Parse(f, data)
			if err != nil {
				errs = append(errs, err)
			}
			all = append(all, rs...)
		}
	}
	errs = append(errs, duplicates(all)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// MaxFileBytes bounds a rule file: the whole built-in pack is under 100 KiB.
const MaxFileBytes = 4 << 20

// ruleFiles lists the rule files a path names. A rule file in a directory that cannot
// be used (a dangling or looping symlink, a FIFO) is an error naming it, not skipped
// unsaid: a rule the user wrote would silently not load.
func ruleFiles(p string) ([]string, []error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, []error{&yamlpos.Error{File: p, Err: fmt.Errorf("load rules: %w", err)}}
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, []error{&yamlpos.Error{File: p, Err: fmt.Errorf("list rules: %w", err)}}
	}
	var files []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isRuleFile(name) {
			continue
		}
		f := filepath.Join(p, name)
		// Stat, not the entry's type: ConfigMap files are symlinks.
		fi, err := os.Stat(f)
		if err != nil {
			errs = append(errs, &yamlpos.Error{File: f, Err: fmt.Errorf("load rules: %w", err)})
			continue
		}
		if fi.IsDir() {
			continue
		}
		files = append(files, f)
	}
	return files, errs
}

func isRuleFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// duplicates reports every rule whose id an earlier rule already has.
func duplicates(rs []*Rule) []error {
	var errs []error
	first := make(map[string]*Rule, len(rs))
	for _, r := range rs {
		f, dup := first[r.ID]
		if !dup {
			first[r.ID] = r
			continue
		}
		errs = append(errs, &yamlpos.Error{
			File: r.File, Line: r.Line, Column: r.Column,
			Err: fmt.Errorf("rule %q: duplicate id, first defined at %s:%d:%d", r.ID, f.File, f.Line, f.Column),
		})
	}
	return errs
}

// Parse decodes the rules in one file's data; file names them in errors and in each
// rule's File. YAML holds one rule, a list of rules or a mapping with a rules list, in
// one or more documents. A JSON object or array is read as knowledge-base entries when
// file ends in .json or the content has a "signature" or "regex" key. Every error is a
// *yamlpos.Error with a line; errors in several rules are all reported, joined.
func Parse(file string, data []byte) ([]*Rule, error) {
	var rs []*Rule
	var err error
	if looksLikeKB(file, data) {
		rs, err = parseKB(data)
	} else {
		rs, err = parseYAML(data)
	}
	for _, r := range rs {
		r.File = file
	}
	return rs, yamlpos.InFile(err, file)
}

func looksLikeKB(file string, data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return false
	}
	return strings.EqualFold(filepath.Ext(file), ".json") ||
		bytes.Contains(data, []byte(`"signature"`)) || bytes.Contains(data, []byte(`"regex"`))
}

// parseYAML decodes every YAML document in data.
func parseYAML(data []byte) ([]*Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var rs []*Rule
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(data, err))
			break
		}
		if err := yamlpos.CheckAliases(&doc, yamlpos.MaxExpanded); err != nil {
			errs = append(errs, err)
			break
		}
		got, err := decodeDocument(&doc)
		rs = append(rs, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rs, errors.Join(errs...)
}

// decodeDocument decodes one document: a rule, a list of rules, or {rules: [...]}.
func decodeDocument(doc *yaml.Node) ([]*Rule, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := deref(doc.Content[0])
	switch {
	case isNull(root):
		return nil, nil
	case root.Kind == yaml.SequenceNode:
		return decodeRules(root.Content)
	case root.Kind == yaml.MappingNode && hasKey(root, "rules") && !hasKey(root, "id"):
		return decodeRuleList(root)
	case root.Kind == yaml.MappingNode:
		return decodeRules([]*yaml.Node{root})
	}
	return nil, yamlpos.At(root, "expected a rule, a list of rules or a mapping with rules, got %s", kindName(root))
}

// decodeRuleList decodes the mapping {rules: [...]}.
func decodeRuleList(root *yaml.Node) ([]*Rule, error) {
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch {
		case k.Value != "rules":
			return nil, yamlpos.At(k, "unknown field %q (a file holds a rule, a list of rules or rules: [...])", k.Value)
		case list != nil:
			return nil, yamlpos.At(k, "field \"rules\" repeated")
		}
		list = deref(root.Content[i+1])
	}
	switch {
	case isNull(list):
		return nil, nil
	case list.Kind != yaml.SequenceNode:
		return nil, yamlpos.At(list, "rules: expected a list of rules, got %s", kindName(list))
	}
	return decodeRules(list.Content)
}

// decodeRules decodes each rule node; a broken rule does not hide the next one's errors.
// The rules are decoded (and their patterns compiled) on every core when there are
// many: a replay loads them beside its reading, and its matching waits for them.
// Rules and errors keep the nodes' order.
func decodeRules(nodes []*yaml.Node) ([]*Rule, error) {
	return decodeRulesOn(nodes, min(runtime.GOMAXPROCS(0), len(nodes)/decodeChunk), decodeChunk)
}

// decodeRulesOn is decodeRules on workers goroutines (the caller's alone when at most
// one), each taking chunk rules at a time.
func decodeRulesOn(nodes []*yaml.Node, workers, chunk int) ([]*Rule, error) {
	rs := make([]*Rule, len(nodes))
	errs := make([]error, len(nodes))
	decode := func(i int) {
		r := new(Rule)
		if err := r.UnmarshalYAML(nodes[i]); err != nil {
			errs[i] = err
			return
		}
		rs[i] = r
	}
	if workers <= 1 {
		for i := range nodes {
			decode(i)
		}
	} else {
		var next atomic.Int64 // the first node of the next chunk, over chunk
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					lo := int(next.Add(1)-1) * chunk
					if lo >= len(nodes) {
						return
					}
					for i := lo; i < min(lo+chunk, len(nodes)); i++ {
						decode(i)
					}
				}
			})
		}
		wg.Wait()
	}
	rs = slices.DeleteFunc(rs, func(r *Rule) bool { return r == nil })
	if len(rs) == 0 {
		rs = nil // as before: no rules is a nil list
	}
	return rs, errors.Join(errs...)
}

// decodeChunk is how many rules a decoding goroutine takes at a time; a file of fewer
// than two chunks is decoded on the caller's.
const decodeChunk = 32

// parserErrorRE matches the yaml.v3 syntax errors whose line is counted from 0 (those
// of its parser, not its scanner); they point at the construct that is not closed.
var parserErrorRE = regexp.MustCompile(`^yaml: line (\d+): (did not find expected (?:key|node content|'-' indicator|',' or '\]'|',' or '\}'|<document start>))$`)

// syntaxError positions a yaml.v3 syntax error in data, correcting the line of parser
// errors (within the lines data has); yamlpos.InFile positions the others.
func syntaxError(data []byte, err error) error {
	m := parserErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[1])
	lines := bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
	return &yamlpos.Error{Line: min(line+1, lines), Err: errors.New(m[2])}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// IsProbe reports whether the rule is a probe (a condition, no log pattern).
func (r *Rule) IsProbe() bool { return r.Probe != nil }

// Patterns returns every pattern of the rule: match any, all and unless, then follow
// and resolve. It is for tooling (literal extraction, listings), not for matching.
func (r *Rule) Patterns() []Pattern {
	var ps []Pattern
	if m := r.Match; m != nil {
		ps = append(ps, m.Any...)
		ps = append(ps, m.All...)
		ps = append(ps, m.Unless...)
	}
	ps = append(ps, r.Follow...)
	return append(ps, r.Resolve...)
}

// Rank orders severities: info 1, warning 2, critical 3; anything else 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}
