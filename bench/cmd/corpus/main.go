// Command corpus writes the matching benchmark's inputs (package bench/corpus) and reads the tools' answers
// back, so bench/match.sh can check that every tool found the same lines.
//
//	corpus gen [-lines N] [-seed S] DIR   corpus.log and rules-{10,100,1000}/ in DIR
//	corpus hits < replay.json             lines cowbell hit (one a line, in order)
//	corpus hit-counts < replay.json       "rule count" for every rule with hits
//	corpus mtail-counts < mtail.json      "rule count" from mtail's one-shot JSON
//
// Each rules-N/ holds the same N patterns for every tool: cowbell/rules.yaml (Go
// syntax, as written), patterns.rg (ripgrep), patterns.ere (grep -E) and
// mtail/bench.mtail (one counter per rule).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cowbell-sidecar/cowbell/bench/corpus"
)

// ruleCounts are the rule set sizes the benchmark runs.
var ruleCounts = []int{10, 100, 1000}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = genCmd(os.Args[2:])
	case "hits":
		err = hitLines(os.Stdin, os.Stdout)
	case "hit-counts":
		err = hitCounts(os.Stdin, os.Stdout)
	case "mtail-counts":
		err = mtailCounts(os.Stdin, os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: corpus gen [-lines N] [-seed S] DIR | hits | hit-counts | mtail-counts")
	os.Exit(2)
}

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	lines := fs.Int("lines", 2_000_000, "lines to write")
	seed := fs.Uint64("seed", 1, "generator seed")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	dir := fs.Arg(0)
	for _, n := range ruleCounts {
		if err := writeRules(filepath.Join(dir, fmt.Sprintf("rules-%d", n)), n); err != nil {
			return err
		}
	}
	return writeCorpus(filepath.Join(dir, "corpus.log"), *lines, *seed)
}

func writeCorpus(path string, lines int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	g := corpus.NewGen(seed)
	for range lines {
		// A bufio.Writer keeps its first error and Flush returns it.
		_, _ = w.WriteString(g.Line())
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeRules writes the n-rule set in every tool's form under dir.
func writeRules(dir string, n int) error {
	rs, err := corpus.RuleSet(n)
	if err != nil {
		return err
	}
	var yml, rg, ere, mt strings.Builder
	yml.WriteString("# The matching benchmark's rules, made by bench/cmd/corpus.\nrules:\n")
	mt.WriteString("# The matching benchmark's rules, made by bench/cmd/corpus.\ncounter bench_hits by rule\n")
	for _, r := range rs {
		fmt.Fprintf(&yml, "  - id: %s\n    title: benchmark rule\n    match:\n      any:\n        - '%s'\n",
			r.ID, strings.ReplaceAll(r.Pattern, "'", "''"))
		for _, t := range []struct {
			b *strings.Builder
			f corpus.Flavor
		}{{&rg, corpus.Rust}, {&ere, corpus.ERE}} {
			p, err := corpus.Translate(r.Pattern, t.f)
			if err != nil {
				return err
			}
			t.b.WriteString(p + "\n")
		}
		p, err := corpus.Translate(r.Pattern, corpus.Mtail)
		if err != nil {
			return err
		}
		fmt.Fprintf(&mt, "/%s/ {\n  bench_hits[%q]++\n}\n", p, r.ID)
	}
	files := map[string]string{
		"cowbell/rules.yaml": yml.String(),
		"patterns.rg":        rg.String(),
		"patterns.ere":       ere.String(),
		"mtail/bench.mtail":  mt.String(),
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// replayHit is the part of `cowbell replay --hits --json` output the checks read.
type replayHit struct {
	Rule string `json:"rule"`
	Line string `json:"line"`
}

// eachHit calls fn for every hit in order.
func eachHit(r io.Reader, fn func(replayHit)) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	for {
		var h replayHit
		if err := dec.Decode(&h); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		fn(h)
	}
}

// hitLines prints each line cowbell hit once: the hits of one line come together,
// and the corpus never repeats a line twice in a row.
func hitLines(r io.Reader, w io.Writer) error {
	bw := bufio.NewWriter(w)
	prev, any := "", false
	err := eachHit(r, func(h replayHit) {
		if any && h.Line == prev {
			return
		}
		prev, any = h.Line, true
		_, _ = bw.WriteString(h.Line + "\n") // the error is Flush's
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func hitCounts(r io.Reader, w io.Writer) error {
	counts := map[string]int{}
	if err := eachHit(r, func(h replayHit) { counts[h.Rule]++ }); err != nil {
		return err
	}
	return printCounts(w, counts)
}

// mtailCounts reads mtail's one-shot JSON: a map of metric name to metrics, each
// with its label values and value.
func mtailCounts(r io.Reader, w io.Writer) error {
	var store map[string][]struct {
		Keys        []string `json:"Keys"`
		LabelValues []struct {
			Labels []string `json:"Labels"`
			Value  struct {
				Value float64 `json:"Value"`
			} `json:"Value"`
		} `json:"LabelValues"`
	}
	if err := json.NewDecoder(r).Decode(&store); err != nil {
		return fmt.Errorf("mtail json: %w", err)
	}
	counts := map[string]int{}
	for _, m := range store["bench_hits"] {
		for _, lv := range m.LabelValues {
			if len(lv.Labels) == 1 && lv.Value.Value > 0 {
				counts[lv.Labels[0]] += int(lv.Value.Value)
			}
		}
	}
	return printCounts(w, counts)
}

func printCounts(w io.Writer, counts map[string]int) error {
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, err := fmt.Fprintf(w, "%s %d\n", id, counts[id]); err != nil {
			return err
		}
	}
	return nil
}
