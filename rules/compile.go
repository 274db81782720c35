package rules

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// UnmarshalYAML decodes a Go duration ("90s", "15m", "2h"); negative ones are errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return yamlpos.At(n, "expected a duration, got %s", kindName(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return yamlpos.At(n, "invalid duration %q (write 90s, 15m, 2h)", n.Value)
	}
	if v < 0 {
		return yamlpos.At(n, "negative duration %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML accepts info, warning or critical.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return yamlpos.At(n, "expected a severity, got %s", kindName(n))
	}
	switch v := Severity(n.Value); v {
	case SeverityInfo, SeverityWarning, SeverityCritical:
		*s = v
		return nil
	}
	return yamlpos.At(n, "unknown severity %q (want info, warning or critical)", n.Value)
}

// UnmarshalYAML compiles an expr condition over facts.Env that must yield a bool. An
// unknown name or a type mismatch is an error at the condition's position.
func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
		return yamlpos.At(n, "expected a condition, got %s", kindName(n))
	}
	cond, err := compileCondition(n.Value)
	if err != nil {
		return conditionError(n, err)
	}
	cond.Line, cond.Column = n.Line, n.Column
	*c = *cond
	return nil
}

// compileCondition compiles src against facts.Env as a boolean expression.
func compileCondition(src string) (*Condition, error) {
	p, err := expr.Compile(src, expr.Env(facts.Env{}), expr.AsBool())
	if err != nil {
		return nil, err
	}
	return &Condition{Source: src, Program: p}, nil
}

// conditionError places an expr compile error: at the offending character when the
// condition sits on one line of the YAML as written, else at the condition itself.
// The message is expr's, without its multi-line source snippet.
func conditionError(n *yaml.Node, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return yamlpos.At(n, "%w", err)
	}
	e := &yamlpos.Error{Line: n.Line, Column: n.Column, Err: errors.New(fe.Message)}
	if fe.Snippet == "" || fe.Line != 1 || strings.ContainsAny(n.Value, "\n\\") {
		return e
	}
	switch n.Style {
	case 0:
		e.Column += fe.Column
	case yaml.DoubleQuotedStyle:
		e.Column += fe.Column + 1
	case yaml.SingleQuotedStyle:
		if !strings.Contains(n.Value, "'") {
			e.Column += fe.Column + 1
		}
	}
	return e
}

// Eval evaluates the condition on env. A nil condition holds: advice without `when`
// always applies.
func (c *Condition) Eval(env facts.Env) (bool, error) {
	if c == nil || c.Program == nil {
		return true, nil
	}
	v, err := expr.Run(c.Program, env)
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", c.Source, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %T, want bool", c.Source, v)
	}
	return b, nil
}

// textFuncs are the functions advice templates may call.
var textFuncs = template.FuncMap{
	"kb":     FormatKB,
	"bytes":  FormatBytes,
	"sbytes": FormatByteString,
	"pct":    FormatPct,
}

// UnmarshalYAML compiles an advice text template and executes it once on an empty
// facts.Env, so that a misspelt field or a wrong function argument is a load error.
func (t *Text) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return yamlpos.At(n, "expected a text, got %s", kindName(n))
	}
	c, err := compileText(n.Value)
	if err != nil {
		return yamlpos.At(n, "%w", err)
	}
	*t = *c
	return nil
}

func compileText(src string) (*Text, error) {
	tmpl, err := template.New("text").Funcs(textFuncs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	if err := tmpl.Execute(io.Discard, facts.Env{}); err != nil {
		return nil, err
	}
	return &Text{Source: src, Template: tmpl}, nil
}

// literalText makes a Text that prints src as it is, braces and all (knowledge-base
// texts are prose, not templates).
func literalText(src string) (*Text, error) {
	tmpl, err := template.New("text").Parse(strings.ReplaceAll(src, "{{", `{{"{{"}}`))
	if err != nil {
		return nil, err
	}
	return &Text{Source: src, Template: tmpl}, nil
}

// Execute renders the text for env. A nil or empty Text renders as "".
func (t *Text) Execute(env facts.Env) (string, error) {
	if t == nil || t.Template == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.Template.Execute(&b, env); err != nil {
		return "", fmt.Errorf("render advice: %w", err)
	}
	return b.String(), nil
}

// UnmarshalYAML compiles a key template and executes it once on an empty KeyData, so
// that a misspelt field is a load error.
func (t *KeyTemplate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
		return yamlpos.At(n, "expected a key template, got %s", kindName(n))
	}
	c, err := compileKey(n.Value)
	if err != nil {
		return yamlpos.At(n, "%w", err)
	}
	*t = *c
	return nil
}

func compileKey(src string) (*KeyTemplate, error) {
	tmpl, err := template.New("key").Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	if err := tmpl.Execute(io.Discard, KeyData{}); err != nil {
		return nil, err
	}
	k := &KeyTemplate{Source: src, Template: tmpl}
	if fast, ok := compileKeyFast(tmpl); ok {
		k.fast = fast
	}
	return k, nil
}

// Execute renders the incident key for d. A nil template, or one that fails on d
// (it passed the load-time check, so only on odd data), gives the default key
// "rule@host": an incident always has a key.
func (t *KeyTemplate) Execute(d KeyData) string {
	if k, ok := t.Render(d); ok {
		return k
	}
	return d.Rule + "@" + d.Host
}

// Render renders the key for d; false for a nil template and one that fails on d.
func (t *KeyTemplate) Render(d KeyData) (string, bool) {
	if t == nil || t.Template == nil {
		return "", false
	}
	var b strings.Builder
	if t.fast != nil {
		b.Grow(128) // a key is rule@host/source/stream/…: one allocation
		renderKey(&b, t.fast, &d, "")
		return b.String(), true
	}
	if err := t.Template.Execute(&b, d); err != nil {
		return "", false
	}
	return b.String(), true
}

// FormatKB formats a size in kB (as /proc/meminfo counts them) as a human size:
// 3355443 → "3.2 GiB". It is the advice templates' `kb` function.
func FormatKB(kb int64) string { return human(float64(kb) * 1024) }

// FormatBytes formats a size in bytes as a human size: 1536 → "1.5 KiB". It is the
// advice templates' `bytes` function.
func FormatBytes(b int64) string { return human(float64(b)) }

// FormatByteString formats a size in bytes written as a decimal string (Redis INFO's
// "used_memory:1048576") as a human size, and anything else as it is. It is the
// advice templates' `sbytes` function.
func FormatByteString(s string) string {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return s
	}
	return FormatBytes(n)
}

// FormatPct formats a ratio as a percentage: 0.925 → "92.5%". It is the advice
// templates' `pct` function.
func FormatPct(ratio float64) string { return fmt.Sprintf("%.1f%%", ratio*100) }

func human(b float64) string {
	sign := ""
	if b < 0 {
		sign, b = "-", -b
	}
	if b < 1024 {
		return fmt.Sprintf("%s%.0f B", sign, b)
	}
	const units = "KMGTPE"
	exp := min(int(math.Log(b)/math.Log(1024)), len(units))
	v := b / math.Pow(1024, float64(exp))
	if v >= 1023.95 && exp < len(units) { // rounding would print "1024.0 KiB"
		exp++
		v /= 1024
	}
	return fmt.Sprintf("%s%.1f %ciB", sign, v, units[exp-1])
}
