package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
