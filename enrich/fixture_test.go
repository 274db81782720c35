package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// clock is a settable time source for an Enricher.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// start is the fixed time fixture snapshots are taken at.
var start = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// copyTree copies a fixture tree into a fresh temporary directory, so a test may swap
// files in it between snapshots.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}

// swap replaces file (relative to root) with its numbered successor file.N.
func swap(t *testing.T, root, file, next string) {
	t.Helper()
	require.NoError(t, os.Rename(filepath.Join(root, next), filepath.Join(root, file)))
}

// fixture returns an Enricher reading the tree at root, with a fake clock, an empty
// environment and no container marker files.
func fixture(t *testing.T, root string) (*Enricher, *clock) {
	t.Helper()
	c := DefaultConfig
	c.Proc, c.Sys, c.Etc = filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "etc")
	e := New(c, zaptest.NewLogger(t))
	clk := &clock{t: start}
	e.now = clk.now
	e.getenv = func(string) string { return "" }
	e.rootFS = t.TempDir()
	return e, clk
}

// loadRules parses testdata/rules.yaml.
func loadRules(t *testing.T) []*rules.Rule {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.yaml")
	require.NoError(t, err)
	rs, err := rules.Parse("testdata/rules.yaml", b)
	require.NoError(t, err)
	return rs
}

// verdict is what a snapshot makes of the rules: the probes that fire and the advice
// that applies (every log rule's, as if its incident opened now), reconciled.
type verdict struct {
	Probes []string  `json:"probes"`
	Advice []Applied `json:"advice"`
}

func judge(t *testing.T, rs []*rules.Rule, s facts.Snapshot) verdict {
	t.Helper()
	env := facts.Env{Snapshot: s}
	v := verdict{Probes: []string{}}
	var all []Applied
	for _, r := range rs {
		if r.Probe != nil {
			firing, err := r.Probe.Condition.Eval(env)
			require.NoError(t, err, r.ID)
			if !firing {
				continue
			}
			v.Probes = append(v.Probes, r.ID)
		}
		all = append(all, Advise(r, env)...)
	}
	slices.Sort(v.Probes)
	v.Advice = Reconcile(all, env)
	return v
}

// golden compares got, as indented JSON, with testdata/<name>; -update rewrites it.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(got))
	b := buf.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./enrich -update to create it")
	require.Equal(t, string(want), string(b))
}

// fresh takes one fresh snapshot with a test deadline.
func fresh(t *testing.T, e *Enricher) facts.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.Fresh(ctx)
}
