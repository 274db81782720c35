package rules

import (
	"strings"
	"text/template"
	"text/template/parse"
)

// A key template is rendered for every line that hits a rule, and text/template's
// reflection made that a tenth of the CPU of following a busy log. Key templates are
// small: text, fields of KeyData ({{.Host}}, {{.Captures.pid}}), `or` of fields, and
// `with` a field around text and {{.}}. Those compile to keyParts, which render with
// no reflection; any other template keeps text/template. TestKeyFastMatchesTemplate
// holds the two to the same output.

// keyPart is one piece of a compiled key: literal text, or a value of KeyData (the
// first non-empty of several for `or`), written alone or, for `with`, through a body
// where {{.}} stands for it.
type keyPart struct {
	text   string
	values []keyValue // or: the first non-empty; text/template's `or` gives the last when all are empty
	with   []keyPart  // with: rendered when the value is non-empty; a part with neither text nor values is {{.}}
	dot    bool
}

// keyValue reads one field of KeyData.
type keyValue func(d *KeyData) string

// compileKeyFast compiles t's tree into keyParts, or reports that it cannot.
func compileKeyFast(t *template.Template) ([]keyPart, bool) {
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, false
	}
	return keyParts(t.Tree.Root.Nodes, false)
}

func keyParts(nodes []parse.Node, inWith bool) ([]keyPart, bool) {
	var out []keyPart
	for _, n := range nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			out = append(out, keyPart{text: string(n.Text)})
		case *parse.ActionNode:
			if inWith { // inside with, dot is the value: only {{.}} is compiled
				if !isDot(n.Pipe) {
					return nil, false
				}
				out = append(out, keyPart{dot: true})
				continue
			}
			vs, ok := pipeValues(n.Pipe, true)
			if !ok {
				return nil, false
			}
			out = append(out, keyPart{values: vs})
		case *parse.WithNode:
			if inWith || n.ElseList != nil {
				return nil, false
			}
			vs, ok := pipeValues(n.Pipe, false)
			if !ok {
				return nil, false
			}
			body, ok := keyParts(n.List.Nodes, true)
			if !ok {
				return nil, false
			}
			out = append(out, keyPart{values: vs, with: body})
		default:
			return nil, false
		}
	}
	return out, true
}

// isDot reports whether p is {{.}}.
func isDot(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	_, ok := p.Cmds[0].Args[0].(*parse.DotNode)
	return ok
}

// pipeValues compiles a pipeline of one field, or (when or is allowed) of `or` over
// fields.
func pipeValues(p *parse.PipeNode, or bool) ([]keyValue, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 {
		return nil, false
	}
	args := p.Cmds[0].Args
	if len(args) > 1 {
		if id, ok := args[0].(*parse.IdentifierNode); !ok || id.Ident != "or" || !or {
			return nil, false
		}
		args = args[1:]
	}
	var vs []keyValue
	for _, a := range args {
		f, ok := a.(*parse.FieldNode)
		if !ok {
			return nil, false
		}
		v, ok := fieldValue(f.Ident)
		if !ok {
			return nil, false
		}
		vs = append(vs, v)
	}
	return vs, len(vs) > 0
}

// fieldValue compiles .Rule, .Host, .Node, .Source, .Stream, .Captures.K and .Labels.K.
func fieldValue(ident []string) (keyValue, bool) {
	switch {
	case len(ident) == 1:
		switch ident[0] {
		case "Rule":
			return func(d *KeyData) string { return d.Rule }, true
		case "Host":
			return func(d *KeyData) string { return d.Host }, true
		case "Node":
			return func(d *KeyData) string { return d.Node }, true
		case "Source":
			return func(d *KeyData) string { return d.Source }, true
		case "Stream":
			return func(d *KeyData) string { return d.Stream }, true
		}
	case len(ident) == 2 && ident[0] == "Captures":
		k := ident[1]
		return func(d *KeyData) string { return d.Captures[k] }, true
	case len(ident) == 2 && ident[0] == "Labels":
		k := ident[1]
		return func(d *KeyData) string { return d.Labels[k] }, true
	}
	return nil, false
}

// renderKey writes parts for d.
func renderKey(b *strings.Builder, parts []keyPart, d *KeyData, dot string) {
	for i := range parts {
		p := &parts[i]
		switch {
		case p.dot:
			b.WriteString(dot)
		case p.values == nil:
			b.WriteString(p.text)
		default:
			var v string
			for _, f := range p.values {
				if v = f(d); v != "" {
					break
				}
			}
			if p.with == nil {
				b.WriteString(v)
			} else if v != "" {
				renderKey(b, p.with, d, v)
			}
		}
	}
}
