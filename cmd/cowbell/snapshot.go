package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// snapshotReport is the JSON of `cowbell snapshot --json`.
type snapshotReport struct {
	Snapshot facts.Snapshot  `json:"snapshot"`
	Probes   []probeResult   `json:"probes"`
	Advice   []adviceApplied `json:"advice"`
}

type probeResult struct {
	Rule     string `json:"rule"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Firing   bool   `json:"firing"`
	Error    string `json:"error,omitempty"`
}

type adviceApplied struct {
	Rule  string            `json:"rule"`
	Text  string            `json:"text"`
	When  string            `json:"when,omitempty"`
	Facts map[string]string `json:"facts,omitempty"`
}

func newSnapshotCmd(g *globals) *cobra.Command {
	var procDir, sysDir string
	var asJSON, noBuiltin bool
	cmd := &cobra.Command{
		Use:   "snapshot [--proc DIR] [--sys DIR] [--json]",
		Short: "Print the host's memory snapshot, its overcommit recommendation, which probes fire and their advice",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			if procDir != "" {
				c.Snapshot.Proc = procDir
			}
			if sysDir != "" {
				c.Snapshot.Sys = sysDir
			}
			rs, err := loadRules(noBuiltin, c.Rules.Paths)
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return errFailed
			}
			snap := enrich.New(c.Snapshot, nopLogger()).Fresh(cmd.Context())
			rep := evaluate(snap, rs)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(rep)
			}
			return printReport(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&procDir, "proc", "", "read this captured /proc tree instead of the live one")
	f.StringVar(&sysDir, "sys", "", "read this captured /sys tree instead of the live one")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in pack out")
	return cmd
}

// evaluate runs every probe on snap and gives the advice of those that fire, as
// their incidents would carry it. A probe that does not fire says nothing about this
// host, and a log rule's advice needs its incident (the line's process, its
// captures): the host recommendation in the snapshot speaks for them.
func evaluate(snap facts.Snapshot, rs []*rules.Rule) snapshotReport {
	rep := snapshotReport{Snapshot: snap, Probes: []probeResult{}, Advice: []adviceApplied{}}
	for _, r := range rs {
		if !r.IsProbe() {
			continue
		}
		pr := probeResult{Rule: r.ID, Title: r.Title, Severity: string(r.Severity)}
		firing, err := r.Probe.Condition.Eval(facts.Env{Snapshot: snap})
		pr.Firing = firing
		if err != nil {
			pr.Error = err.Error()
		}
		rep.Probes = append(rep.Probes, pr)
		if !firing {
			continue
		}
		env := enrich.NewEnv(snap, enrich.TargetFrom(snap, r.ID, nil, nil), nil, nil)
		for _, a := range enrich.Reconcile(enrich.Advise(r, env), env) {
			rep.Advice = append(rep.Advice, adviceApplied{Rule: r.ID, Text: a.Text, When: a.When, Facts: a.Facts})
		}
	}
	return rep
}

func printReport(w io.Writer, rep snapshotReport) error {
	if err := enrich.WriteTable(w, rep.Snapshot); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nProbes:")
	for _, p := range rep.Probes {
		state := "ok"
		if p.Firing {
			state = "FIRING"
		}
		if p.Error != "" {
			state = "error: " + p.Error
		}
		fmt.Fprintf(w, "  %-8s %-40s %s\n", state, p.Rule, p.Title)
	}
	if r := rep.Snapshot.Recommend; r.Text != "" {
		fmt.Fprintln(w, "\nHost recommendation (every incident on this host quotes it):")
		for _, l := range strings.Split(r.Text, "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintln(w, "\nAdvice of the probes that fire:")
	if len(rep.Advice) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, a := range rep.Advice {
		fmt.Fprintf(w, "  [%s] %s\n", a.Rule, a.Text)
		if a.When != "" {
			fmt.Fprintf(w, "      because %s %v\n", a.When, a.Facts)
		}
	}
	return nil
}
