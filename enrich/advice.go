package enrich

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Applied is one piece of advice that holds on a snapshot: its rendered text, the
// condition that made it apply, and the snapshot values that condition read.
type Applied struct {
	Text string `json:"text"`
	When string `json:"when,omitempty"`
	// Facts maps each snapshot value the condition referenced ("vm.overcommit_memory")
	// to its value on the snapshot ("0").
	Facts       map[string]string `json:"facts,omitempty"`
	SuccessRate float64           `json:"success_rate,omitempty"`
	// Docs are the documents the advice rests on: its own docs, else its rule's.
	Docs []string `json:"docs,omitempty"`
}

// Advise returns the advice of r whose condition holds on env, rendered. Advice whose
// condition or text cannot be evaluated is left out: a wrong hint is worse than none.
func Advise(r *rules.Rule, env facts.Env) []Applied { return advise(r, env, false) }

// Unconditional returns only the rule's advice that carries no condition, rendered on
// env: what can be said without a snapshot (replay with --no-snapshot).
func Unconditional(r *rules.Rule, env facts.Env) []Applied { return advise(r, env, true) }

func advise(r *rules.Rule, env facts.Env, unconditionalOnly bool) []Applied {
	var out []Applied
	for _, a := range r.Advice {
		ap := Applied{SuccessRate: a.SuccessRate, Docs: a.Docs}
		if len(ap.Docs) == 0 {
			ap.Docs = r.Docs
		}
		if a.When != nil && unconditionalOnly {
			continue
		}
		if a.When != nil {
			ok, err := a.When.Eval(env)
			if err != nil || !ok {
				continue
			}
			ap.When = a.When.Source
			ap.Facts = Referenced(a.When.Source, env)
		}
		text, err := a.Text.Execute(env)
		if err != nil {
			continue
		}
		ap.Text = text
		out = append(out, ap)
	}
	return out
}

// Referenced returns the snapshot values an expression reads: each outermost member
// chain rooted at a name of env ("vm.overcommit_memory", "commit.ratio",
// "meminfo.Committed_AS") and each bare name ("container"), with its value printed.
// Names inside predicates (.name in any(processes, .name == "redis")) are not values
// of the snapshot and are left out; so are chains that cannot be evaluated.
func Referenced(src string, env facts.Env) map[string]string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &chains{inner: map[ast.Node]bool{}}
	ast.Walk(&tree.Node, c)
	out := map[string]string{}
	for _, n := range c.nodes {
		if c.inner[n] || !rootedAtName(n) {
			continue
		}
		key := n.String()
		if _, done := out[key]; done {
			continue
		}
		v, err := expr.Eval(key, env)
		if err != nil {
			continue
		}
		if str, ok := formatValue(v); ok {
			out[key] = str
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// chains collects member and identifier nodes, marking those that are part of a longer
// chain or a call.
type chains struct {
	nodes []ast.Node
	inner map[ast.Node]bool
}

// Visit implements ast.Visitor.
func (c *chains) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		c.inner[n.Node] = true
		if ch, ok := n.Node.(*ast.ChainNode); ok { // a?.b.c: b is inside the chain
			c.inner[ch.Node] = true
		}
		if n.Method {
			c.inner[n] = true
		}
		c.nodes = append(c.nodes, n)
	case *ast.IdentifierNode:
		c.nodes = append(c.nodes, n)
	case *ast.CallNode:
		c.inner[n.Callee] = true
	}
}

// rootedAtName reports whether a chain starts at a name of the environment rather than
// at a predicate's element (#, .field) or a computed value.
func rootedAtName(n ast.Node) bool {
	for {
		switch m := n.(type) {
		case *ast.IdentifierNode:
			return true
		case *ast.MemberNode:
			n = m.Node
		case *ast.ChainNode:
			n = m.Node
		default:
			return false
		}
	}
}

// formatValue prints a scalar fact: integers plainly, floats with at most four
// decimals. ok is false for maps, lists and structs: a whole section is not a fact.
func formatValue(v any) (string, bool) {
	switch x := v.(type) {
	case float64:
		s := strconv.FormatFloat(x, 'f', 4, 64)
		return strings.TrimRight(strings.TrimRight(s, "0"), "."), true
	case string:
		return x, true
	case time.Time:
		return x.Format(time.RFC3339), true
	case nil:
		return "", false
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer, reflect.Func:
		return "", false
	}
	return fmt.Sprint(v), true
}
