package config

import (
	"errors"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// envRef is ${NAME}; a lone $ (a regexp anchor in a label pattern) is left alone.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every scalar value of the tree (never in keys) with
// the environment's value. An unset variable is an error at its place: an empty
// webhook URL or token would otherwise fail much later, far from its cause.
func expandEnv(n *yaml.Node, lookup func(string) (string, bool)) error {
	var errs []error
	var walk func(*yaml.Node, bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.ScalarNode:
			if isKey || !envRef.MatchString(n.Value) {
				return
			}
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
				name := envRef.FindStringSubmatch(ref)[1]
				v, ok := lookup(name)
				if !ok {
					errs = append(errs, yamlpos.At(n, "environment variable %s is not set", name))
				}
				return v
			})
		}
	}
	walk(n, false)
	return errors.Join(errs...)
}

func osLookup(name string) (string, bool) { return os.LookupEnv(name) }
