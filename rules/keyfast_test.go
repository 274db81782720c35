package rules

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// keySamples are the key templates of the built-in pack, and ones the fast path must
// refuse or get right besides.
func keySamples(t *testing.T) (fast, slow []string) {
	t.Helper()
	rs, err := Builtin()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Key != nil && !seen[r.Key.Source] {
			seen[r.Key.Source] = true
			fast = append(fast, r.Key.Source)
		}
	}
	require.GreaterOrEqual(t, len(fast), 5, "the pack's key templates")
	fast = append(fast,
		"{{.Rule}}@{{.Host}}", "plain", "{{.Labels.container}}{{.Captures.pid}}",
		"{{with .Captures.task}}[{{.}}]{{.}}{{end}}", "{{or .Captures.a .Captures.b .Labels.c}}",
	)
	slow = []string{
		`{{index .Captures "pid"}}`, "{{with .Captures.pid}}{{.}}{{else}}none{{end}}",
		"{{with .Captures.pid}}{{$.Host}}{{end}}", "{{if .Captures.pid}}x{{end}}",
		"{{.Rule | printf \"%s!\"}}", "{{$x := .Host}}{{$x}}", "{{with .Labels.a}}{{with .}}{{.}}{{end}}{{end}}",
		"{{with .Labels.a}}{{.Host}}{{end}}", "{{.Captures.pid | len}}",
	}
	return fast, slow
}

// TestKeyFastMatchesTemplate: every template the fast path compiles renders as
// text/template does, on KeyData with fields empty, set, and maps nil or missing the
// key; those it cannot compile stay with text/template.
func TestKeyFastMatchesTemplate(t *testing.T) {
	fast, slow := keySamples(t)
	for _, src := range slow {
		k, err := compileKey(src)
		if err != nil {
			continue // not a valid key template at all
		}
		require.Nil(t, k.fast, "%s is not for the fast path", src)
	}
	vals := []string{"", "x", "redis-server", "812", "a/b", "{{.}}"}
	pick := func(r *rand.Rand) string { return vals[r.IntN(len(vals))] }
	pickMap := func(r *rand.Rand, keys ...string) map[string]string {
		if r.IntN(4) == 0 {
			return nil
		}
		m := map[string]string{}
		for _, k := range keys {
			if r.IntN(3) > 0 {
				m[k] = pick(r)
			}
		}
		return m
	}
	keys := []string{"pid", "task", "unit", "program", "pids_cgroup", "identifier", "comm", "container", "a", "b", "c"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, src := range fast {
		k, err := compileKey(src)
		require.NoError(t, err, src)
		require.NotNil(t, k.fast, "%s compiles to the fast path", src)
		for range 2000 {
			d := KeyData{Rule: pick(r), Host: pick(r), Node: pick(r), Source: pick(r), Stream: pick(r),
				Captures: pickMap(r, keys...), Labels: pickMap(r, keys...)}
			var want strings.Builder
			require.NoError(t, k.Template.Execute(&want, d))
			got, ok := k.Render(d)
			require.True(t, ok)
			require.Equal(t, want.String(), got, "%s on %+v", src, d)
		}
	}
}

func BenchmarkKeyRender(b *testing.B) {
	const src = "{{.Rule}}@{{.Host}}/{{.Source}}/{{.Stream}}/{{or .Labels.identifier .Labels.comm .Captures.program}}{{with .Captures.pid}}/{{.}}{{end}}"
	k, err := compileKey(src)
	if err != nil {
		b.Fatal(err)
	}
	d := KeyData{Rule: "redis/bgsave-fork-enomem", Host: "cache-7", Source: "redis", Stream: "/var/log/redis/redis-server.log",
		Captures: map[string]string{"pid": "812"}, Labels: map[string]string{"comm": "redis-server"}}
	for _, mode := range []string{"template", "fast"} {
		b.Run("path="+mode, func(b *testing.B) {
			kk := *k
			if mode == "template" {
				kk.fast = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := kk.Render(d); !ok {
					b.Fatal("render failed")
				}
			}
		})
	}
}
