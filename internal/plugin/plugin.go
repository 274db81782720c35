// Package plugin is the shape of a configurable part's type (a source, a receiver):
// its name in the configuration, how its settings decode, and how it is built. The
// sources and notifiers packages each instantiate it with their own Config, Deps and
// product.
package plugin

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Plugin is one type of part: C is the kind's configuration interface, D what every
// constructor of the kind is given besides its configuration, P what it builds.
type Plugin[C, D, P any] struct {
	Type   string
	Decode func(n *yaml.Node) (C, error)
	New    func(c C, d D) (P, error)
}

// Plug makes the Plugin of one package of the kind from its configuration type T
// (which decodes and checks itself in UnmarshalYAML) and its constructor. The kinds'
// own Plug functions call it with T constrained to implement C and R to implement P,
// so the conversions below cannot fail; they are checked all the same.
func Plug[C, D, P, T any, PT interface {
	*T
	yaml.Unmarshaler
}, R any](typ string, newFn func(T, D) (R, error)) Plugin[C, D, P] {
	return Plugin[C, D, P]{
		Type: typ,
		Decode: func(n *yaml.Node) (C, error) {
			var t T
			if err := PT(&t).UnmarshalYAML(n); err != nil {
				var zero C
				return zero, err
			}
			return convert[C](typ, t)
		},
		New: func(c C, d D) (P, error) {
			t, err := convert[T](typ, c)
			if err != nil {
				var zero P
				return zero, err
			}
			r, err := newFn(t, d)
			if err != nil {
				var zero P
				return zero, err
			}
			return convert[P](typ, r)
		},
	}
}

// convert returns v as a To.
func convert[To any](typ string, v any) (To, error) {
	to, ok := v.(To)
	if !ok {
		return to, fmt.Errorf("%s: a %T is not a %T", typ, v, to)
	}
	return to, nil
}
