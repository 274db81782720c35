package yamlpos

import "go.yaml.in/yaml/v3"

// MaxExpanded bounds the nodes a document may stand for once its aliases are expanded.
// yaml.v3 bounds alias expansion within one Decode, but cowbell decodes a document
// node by node (strict decoding, plug-in settings), each with a fresh budget: a few
// hundred kilobytes of nested aliases would then expand to gigabytes. A real
// configuration or rule file stands for a few thousand nodes.
const MaxExpanded = 1_000_000

// CheckAliases refuses a document whose aliases expand to more than limit nodes, at
// the alias that crosses it. It counts without expanding: each anchored node's
// expanded size is computed once.
func CheckAliases(doc *yaml.Node, limit int) error {
	c := aliasCounter{sizes: map[*yaml.Node]int{}, limit: limit}
	c.size(doc)
	return c.err
}

type aliasCounter struct {
	sizes map[*yaml.Node]int // expanded size of nodes already counted (aliases' targets)
	limit int
	total int
	err   error
}

// size returns n's expanded size, capped at limit+1, and adds it to the total.
func (c *aliasCounter) size(n *yaml.Node) int {
	if n == nil || c.err != nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		s, ok := c.sizes[n.Alias]
		if !ok {
			s = c.size(n.Alias) // an alias to a node not counted yet (or a loop)
		}
		c.total += s
		if c.total > c.limit && c.err == nil {
			c.err = At(n, "aliases expand this document to more than %d nodes", c.limit)
		}
		return s
	}
	if s, ok := c.sizes[n]; ok {
		return s
	}
	c.sizes[n] = c.limit + 1 // while counting: an alias back into n is a loop, counted as too large
	s := 1
	c.total++
	for _, ch := range n.Content {
		s += c.size(ch)
		if s > c.limit {
			s = c.limit + 1
		}
	}
	c.sizes[n] = s
	if c.total > c.limit && c.err == nil {
		c.err = At(n, "document expands to more than %d nodes", c.limit)
	}
	return s
}
