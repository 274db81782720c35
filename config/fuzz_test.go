package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// FuzzParseConfig: any document either decodes or fails with positioned errors (file
// and line), never a panic, and no decode is unbounded (aliases are counted first).
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("../deploy/*.yaml")
	seeds = append(seeds, "../deploy/compose/cowbell.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("sources:\n  - {name: a, type: file, paths: [x]}\nnotifiers:\n  - {name: n, type: webhook, url: 'https://h/${TOKEN}'}\n"))
	f.Add([]byte("a: &a [1, 2]\nb: *a\nroutes: [{notifiers: *a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, func(string) (string, bool) { return "v", true })
		if err == nil {
			if c == nil || c.File != "f.yaml" {
				t.Fatalf("decoded without a config: %+v", c)
			}
			return
		}
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		for _, e := range errs {
			var pe *yamlpos.Error
			if !errors.As(e, &pe) || pe.File != "f.yaml" || pe.Line <= 0 {
				t.Fatalf("error without a place: %v", e)
			}
		}
	})
}
