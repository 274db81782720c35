package yamlpos_test

import (
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
