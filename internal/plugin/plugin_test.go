package plugin

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type describer interface{ Describe() string }

type conf struct{ Addr string }

func (c conf) Describe() string { return "at " + c.Addr }

func (c *conf) UnmarshalYAML(n *yaml.Node) error {
	type plain conf
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	if c.Addr == "" {
		return errors.New("addr: required")
	}
	return nil
}

type other struct{}

func (other) Describe() string { return "other" }

type thing struct{ addr string }

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

func TestPlug(t *testing.T) {
	built := errors.New("refused")
	p := Plug[describer, int, *thing, conf](
		"x", func(c conf, d int) (*thing, error) {
			if d < 0 {
				return nil, built
			}
			return &thing{c.Addr}, nil
		})
	c, err := p.Decode(node(t, "addr: here"))
	if err != nil || c.Describe() != "at here" {
		t.Fatalf("Decode = %v, %v", c, err)
	}
	if _, err := p.Decode(node(t, "addr: ''")); err == nil || err.Error() != "addr: required" {
		t.Fatalf("the config's own check: %v", err)
	}
	th, err := p.New(c, 1)
	if err != nil || th.addr != "here" {
		t.Fatalf("New = %v, %v", th, err)
	}
	if _, err := p.New(c, -1); !errors.Is(err, built) {
		t.Fatalf("the constructor's error: %v", err)
	}
	if _, err := p.New(other{}, 1); err == nil || !strings.Contains(err.Error(), "x: a plugin.other is not") {
		t.Fatalf("another kind's config: %v", err)
	}
}
