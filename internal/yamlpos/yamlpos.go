// Package yamlpos gives configuration errors a place: file, line and column.
//
// yaml.v3's Node.Decode ignores KnownFields, so strict decoding of a node goes
// through DecodeStrict, which rejects undeclared keys (with their position)
// before decoding.
package yamlpos

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is an error at a place in a YAML (or JSON) document.
type Error struct {
	File         string
	Line, Column int
	Err          error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// At makes an Error at n's position; format and args follow fmt.Errorf (so %w wraps).
func At(n *yaml.Node, format string, args ...any) error {
	e := &Error{Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// Within prefixes err's message with a context ("rule %q") and keeps its position.
// A nil err stays nil.
func Within(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok { // every error of a joined one
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Within(e, format, args...))
		}
		return errors.Join(out...)
	}
	prefix := fmt.Sprintf(format, args...)
	var pe *Error
	if errors.As(err, &pe) {
		return &Error{File: pe.File, Line: pe.Line, Column: pe.Column, Err: fmt.Errorf("%s: %w", prefix, pe.Err)}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// InFile sets the file name of every positioned error in err that has none, and turns
// yaml.v3's own errors ("yaml: line 3: ...") into positioned ones. A nil err stays nil.
func InFile(err error, file string) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, InFile(e, file))
		}
		return errors.Join(out...)
	}
	var pe *Error
	if errors.As(err, &pe) {
		if pe.File == "" {
			pe.File = file
		}
		return err
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, msg := range te.Errors {
			out = append(out, fromMessage(file, msg))
		}
		return errors.Join(out...)
	}
	return fromMessage(file, err.Error())
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// fromMessage parses yaml.v3's "line N: message" error texts.
func fromMessage(file, msg string) error {
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Err: errors.New(m[2])}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{File: file, Line: 1, Err: errors.New(msg)}
}

// DecodeStrict decodes n into v (a pointer to a struct), first rejecting mapping keys
// that v does not declare, recursively through nested plain structs, slices and maps of
// them. Types with their own UnmarshalYAML check themselves.
func DecodeStrict(n *yaml.Node, v any) error {
	if err := checkKeys(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return err
		}
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return fromMessage("", te.Errors[0])
		}
		return At(n, "%w", err)
	}
	return nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func checkKeys(n *yaml.Node, t reflect.Type) error {
	if n == nil || t == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return nil
		}
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type mismatch, reported by Decode with its position
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				return At(k, "unknown field %q", k.Value)
			}
			if err := checkKeys(val, ft); err != nil {
				return Within(err, "%s", k.Value)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for _, c := range n.Content {
			if err := checkKeys(c, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, out)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

// Value returns the value node of key in mapping n (or in a document holding one), or
// n itself when key is absent, so that an error points as close to its cause as it can.
func Value(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// Item returns item i of sequence n, or n itself when there is no such item.
func Item(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i >= 0 && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

// FieldError is a check's error about one key of a mapping, made where the mapping's
// node is not at hand (a Config's check, shared by its UnmarshalYAML and its New).
type FieldError struct {
	Field string // the key, or keys joined by "." for a nested one
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Field says that err is about key (nested keys joined by "."). A nil err stays nil.
func Field(key string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: key, Err: err}
}

// Place gives a check's error its place in mapping n: at the value of the key a
// FieldError names when n has it, else at n. An error that already has a place, and
// a nil err, are returned as they are.
func Place(n *yaml.Node, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	at := n
	var fe *FieldError
	if errors.As(err, &fe) {
		for _, k := range strings.Split(fe.Field, ".") {
			at = Value(at, k)
		}
	}
	return At(at, "%w", err)
}
