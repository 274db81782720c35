package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// FuzzLoadRules checks that Parse never panics, that every error it returns is a
// *yamlpos.Error with a line, and that every rule it returns is whole.
func FuzzLoadRules(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, "testdata/kb/redis-bgsave-fork.json")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(s) == ".json")
	}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "f.yaml"
		if asJSON {
			name = "f.json"
		}
		rs, err := Parse(name, data)
		checkPositioned(t, err)
		for _, r := range rs {
			switch {
			case r.ID == "" || r.Title == "" || r.Key == nil || r.Line <= 0 || r.File != name:
				t.Fatalf("incomplete rule %+v", r)
			case (r.Match == nil) == (r.Probe == nil):
				t.Fatalf("rule %q: want exactly one of match and probe", r.ID)
			}
		}
	})
}

// checkPositioned fails unless every error joined in err is a *yamlpos.Error with a
// line.
func checkPositioned(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			checkPositioned(t, e)
		}
		return
	}
	var pe *yamlpos.Error
	if !errors.As(err, &pe) || pe.Line <= 0 {
		t.Fatalf("error without a position: %v", err)
	}
}

// FuzzDecodeRulesParallel checks that a list of rules decodes to the same rules and
// the same errors, in the same order, on several goroutines as on one.
func FuzzDecodeRulesParallel(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(3))
	}
	f.Add([]byte("- {id: a/one, title: T, match: '('}\n- {id: a/two, title: T, match: ok}\n- {id: a/three, match: x}\n- {id: a/four, title: T, probe: {condition: 'true'}}\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || yamlpos.CheckAliases(&doc, yamlpos.MaxExpanded) != nil {
			return
		}
		root := deref(doc.Content[0])
		if root.Kind != yaml.SequenceNode {
			return
		}
		one, oneErr := decodeRulesOn(root.Content, 1, 1)
		many, manyErr := decodeRulesOn(root.Content, 4, max(1, int(chunk%8)))
		if fmt.Sprint(oneErr) != fmt.Sprint(manyErr) {
			t.Fatalf("errors differ:\n%v\n%v", oneErr, manyErr)
		}
		if len(one) != len(many) {
			t.Fatalf("%d rules on one goroutine, %d on several", len(one), len(many))
		}
		for i := range one {
			if one[i].ID != many[i].ID || one[i].Line != many[i].Line || one[i].Column != many[i].Column {
				t.Fatalf("rule %d: %s:%d against %s:%d", i, one[i].ID, one[i].Line, many[i].ID, many[i].Line)
			}
		}
	})
}
