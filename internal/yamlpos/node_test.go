package yamlpos_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

func TestValueAndItem(t *testing.T) {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("a: 1\nlist: [x, y]\n"), &doc))
	root := doc.Content[0]

	require.Equal(t, "1", yamlpos.Value(root, "a").Value)
	require.Equal(t, "1", yamlpos.Value(&doc, "a").Value, "a document is looked into")
	require.Same(t, root, yamlpos.Value(root, "missing"), "an absent key points at the mapping")
	list := yamlpos.Value(root, "list")
	require.Same(t, list, yamlpos.Value(list, "x"), "a sequence has no keys")

	require.Equal(t, "y", yamlpos.Item(list, 1).Value)
	require.Same(t, list, yamlpos.Item(list, 2))
	require.Same(t, list, yamlpos.Item(list, -1))
	require.Same(t, root, yamlpos.Item(root, 0), "a mapping has no items")
}

// TestCheckAliases: a document whose aliases nest into a fan-out (the "billion laughs")
// is refused at the alias that crosses the bound, quickly; ordinary anchors pass.
func TestCheckAliases(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(bomb.String()), &n))
	err := yamlpos.CheckAliases(&n, yamlpos.MaxExpanded)
	var pe *yamlpos.Error
	require.ErrorAs(t, err, &pe)
	require.Positive(t, pe.Line)
	require.ErrorContains(t, err, "aliases expand this document to more than 1000000 nodes")

	ok := "base: &b {timeout: 5s, headers: {a: b}}\nnotifiers:\n  - {<<: *b, name: x}\n  - {<<: *b, name: y}\n"
	require.NoError(t, yaml.Unmarshal([]byte(ok), &n))
	require.NoError(t, yamlpos.CheckAliases(&n, yamlpos.MaxExpanded))
}
