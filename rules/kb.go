package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// kbEntry is the part of a knowledge-base entry cowbell uses. The KB schema is wide:
// other fields are ignored, but a used field of the wrong type is an error.
type kbEntry struct {
	ID          kbString       `yaml:"id"`
	Signature   kbString       `yaml:"signature"`
	Regex       kbString       `yaml:"regex"`
	Domain      kbString       `yaml:"domain"`
	Category    kbString       `yaml:"category"`
	Subcategory kbString       `yaml:"subcategory"`
	Tags        []kbString     `yaml:"tags"`
	RootCause   kbString       `yaml:"root_cause"`
	Workarounds []kbWorkaround `yaml:"workarounds"`
	DeadEnds    []kbDeadEnd    `yaml:"dead_ends"`
	DocURL      kbString       `yaml:"official_doc_url"`
	Versions    []kbVersion    `yaml:"versions"`
}

type kbWorkaround struct {
	Action      kbString `yaml:"action"`
	How         kbString `yaml:"how"`
	SuccessRate float64  `yaml:"success_rate"`
	Condition   kbString `yaml:"condition"`
}

type kbDeadEnd struct {
	Action   kbString `yaml:"action"`
	WhyFails kbString `yaml:"why_fails"`
	FailRate float64  `yaml:"fail_rate"`
}

// kbString is a string with its position; null reads as "".
type kbString struct {
	s    string
	node *yaml.Node
}

func (k *kbString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return yamlpos.At(n, "expected a string, got %s", kindName(n))
	}
	k.s, k.node = n.Value, n
	return nil
}

// kbVersion is a versions item: {"version": "Redis 7.0"} or a plain string.
type kbVersion struct{ kbString }

func (v *kbVersion) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return v.kbString.UnmarshalYAML(n)
	}
	var item struct {
		Version kbString `yaml:"version"`
	}
	if err := decodeLoose(n, &item); err != nil {
		return err
	}
	v.kbString = item.Version
	return nil
}

// parseKB decodes a JSON knowledge-base entry, or an array of them, as rules. JSON is
// read as YAML so that errors carry lines. JSON in the rule format (with match, probe
// or rules keys and no signature or regex) loads as rules.
func parseKB(data []byte) ([]*Rule, error) {
	var doc yaml.Node
	data = jsonForYAML(data)
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := deref(doc.Content[0])
	if isRuleFormat(root) {
		return decodeDocument(&doc)
	}
	entries := []*yaml.Node{root}
	if root.Kind == yaml.SequenceNode {
		entries = root.Content
	}
	var rs []*Rule
	var errs []error
	for _, n := range entries {
		r, err := kbRule(deref(n))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs = append(rs, r)
	}
	return rs, errors.Join(errs...)
}

// isRuleFormat reports whether a JSON document is written in the rule format.
func isRuleFormat(root *yaml.Node) bool {
	n := root
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
		n = deref(n.Content[0])
	}
	if n.Kind != yaml.MappingNode || hasKey(n, "signature") || hasKey(n, "regex") {
		return false
	}
	return hasKey(n, "rules") || hasKey(n, "match") || hasKey(n, "probe")
}

// kbRule converts one entry, following docs/rules.md's table.
func kbRule(n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, yamlpos.At(n, "expected a knowledge-base entry, got %s", kindName(n))
	}
	var e kbEntry
	var r *Rule
	err := decodeLoose(n, &e)
	if err == nil {
		r, err = e.convert(n)
	}
	switch id := peekID(n); {
	case err == nil:
		return r, nil
	case id != "":
		return nil, yamlpos.Within(err, "rule %q", id)
	}
	return nil, yamlpos.Within(err, "entry")
}

func (e *kbEntry) convert(n *yaml.Node) (*Rule, error) {
	r := &Rule{
		ID: e.ID.s, Title: e.Signature.s, RootCause: e.RootCause.s,
		Severity: SeverityWarning, Line: n.Line, Column: n.Column,
	}
	switch {
	case r.ID == "":
		return nil, yamlpos.At(n, "id is required")
	case !idRE.MatchString(r.ID):
		return nil, yamlpos.At(e.ID.node, "id: %q is not domain/slug (lower case letters, digits, '_', '.', '-')", r.ID)
	case e.Regex.s == "" && e.Signature.s == "":
		return nil, yamlpos.At(n, "one of regex and signature is required")
	}
	if e.Category.s == "resource_error" {
		r.Severity = SeverityCritical
	}
	if r.Title == "" {
		r.Title = r.ID
	}
	p, err := e.pattern()
	if err != nil {
		return nil, yamlpos.Within(err, "regex")
	}
	r.Match = &Match{Any: []Pattern{p}}
	if e.Signature.s != "" {
		r.Examples.Match = []string{e.Signature.s}
	}
	r.Tags = e.tags()
	if r.Advice, err = e.advice(); err != nil {
		return nil, err
	}
	for _, d := range e.DeadEnds {
		r.DeadEnds = append(r.DeadEnds, DeadEnd{Action: d.Action.s, Why: d.WhyFails.s, FailRate: d.FailRate})
	}
	if e.DocURL.s != "" {
		r.Docs = []string{e.DocURL.s}
	}
	for _, v := range e.Versions {
		if v.s != "" {
			r.Versions = append(r.Versions, v.s)
		}
	}
	if r.Key, err = compileKey(defaultKey); err != nil {
		return nil, yamlpos.At(n, "key: %w", err)
	}
	return r, nil
}

// pattern compiles the entry's regex; an entry without one matches its signature
// literally.
func (e *kbEntry) pattern() (Pattern, error) {
	src := e.Regex
	if src.s == "" {
		src = kbString{s: regexp.QuoteMeta(e.Signature.s), node: e.Signature.node}
	}
	return patternSrc{text: src.s, line: src.node.Line, column: src.node.Column}.compile(false)
}

// tags collects domain, category, subcategory and tags, without blanks or repeats.
func (e *kbEntry) tags() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range append([]kbString{e.Domain, e.Category, e.Subcategory}, e.Tags...) {
		if t.s != "" && !seen[t.s] {
			seen[t.s] = true
			out = append(out, t.s)
		}
	}
	return out
}

// advice converts workarounds. A condition that compiles becomes the advice's `when`;
// one that does not is prose (most KBs write "if running in Docker"), kept in the text.
func (e *kbEntry) advice() ([]Advice, error) {
	var out []Advice
	for i, w := range e.Workarounds {
		text := w.How.s
		if text == "" {
			text = w.Action.s
		}
		if text == "" {
			continue // nothing to advise
		}
		a := Advice{SuccessRate: w.SuccessRate}
		if c := w.Condition.s; c != "" {
			if cond, err := compileCondition(c); err == nil {
				cond.Line, cond.Column = w.Condition.node.Line, w.Condition.node.Column
				a.When = cond
			} else {
				text = "When: " + c + "\n" + text
			}
		}
		t, err := literalText(text)
		if err != nil {
			return nil, yamlpos.At(orNode(w.How.node, w.Action.node), "workarounds[%d]: %w", i, err)
		}
		a.Text = *t
		out = append(out, a)
	}
	return out, nil
}

// decodeLoose decodes n into v without rejecting unknown keys, turning yaml.v3's type
// errors into positioned ones.
func decodeLoose(n *yaml.Node, v any) error {
	err := n.Decode(v)
	if err == nil {
		return nil
	}
	var pe *yamlpos.Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.As(yamlpos.InFile(err, ""), &pe) {
		return pe
	}
	return yamlpos.At(n, "%w", err)
}

// jsonForYAML rewrites the JSON string escapes YAML lacks: "\/" becomes "/", and a
// UTF-16 surrogate pair ("\ud83d\ude00") becomes one "\U0001F600" (a lone surrogate,
// U+FFFD). Outside strings JSON is valid YAML as it stands.
func jsonForYAML(data []byte) []byte {
	out := make([]byte, 0, len(data))
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			inString = !inString
		case !inString || c != '\\' || i+1 >= len(data):
		case data[i+1] == '/':
			out = append(out, '/')
			i++
			continue
		case data[i+1] == 'u':
			if r, n := surrogate(data[i:]); n > 0 {
				out = fmt.Appendf(out, `\U%08X`, r)
				i += n - 1
				continue
			}
			fallthrough
		default: // keep any other escape whole, so an escaped quote does not end the string
			out = append(out, c, data[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

// surrogate decodes a \uXXXX escape at the start of b that is a UTF-16 surrogate,
// with its pair if one follows; n is the bytes used, 0 when it is not a surrogate.
func surrogate(b []byte) (r rune, n int) {
	r1, ok := hex4(b, 2)
	if !ok || !utf16.IsSurrogate(r1) {
		return 0, 0
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if r2, ok := hex4(b, 8); ok {
			if r := utf16.DecodeRune(r1, r2); r != unicode.ReplacementChar {
				return r, 12
			}
		}
	}
	return unicode.ReplacementChar, 6
}

func hex4(b []byte, at int) (rune, bool) {
	if len(b) < at+4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(v), err == nil //nolint:gosec // four hex digits: at most 0xFFFF
}
