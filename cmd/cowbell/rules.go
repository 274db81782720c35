package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/matcher/samples"
	"github.com/cowbell-sidecar/cowbell/rules"
)

func newRulesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Test and list rules"}
	cmd.AddCommand(newRulesTestCmd(), newRulesListCmd())
	return cmd
}

func newRulesTestCmd() *cobra.Command {
	var noBuiltin bool
	var samples []string
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run every rule's examples (and sample logs); fail on any miss",
		Long: `Load the built-in pack (unless --no-builtin) and the rule files or directories
given, and run each rule's examples: every match: line must fire the rule and no
no_match: line may. --samples runs annotated sample logs (docs/rules.md, "Sample
logs") through the whole rule set.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			rs, err := loadRules(noBuiltin, args)
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return errFailed
			}
			failures := matcher.RunExamples(rs)
			for _, f := range failures {
				want := "should match"
				if !f.Want {
					want = "should not match"
				}
				fmt.Fprintf(out, "FAIL %s: %s: %q", f.Rule, want, f.Line)
				if f.Err != "" {
					fmt.Fprintf(out, " (%s)", f.Err)
				}
				fmt.Fprintln(out)
			}
			examples := 0
			for _, r := range rs {
				examples += len(r.Examples.Match) + len(r.Examples.NoMatch)
			}
			sampleFailures, sampleLines, err := runSamples(rs, samples, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%d rules, %d examples, %d sample lines: %d failed\n",
				len(rs), examples, sampleLines, len(failures)+sampleFailures)
			if len(failures)+sampleFailures > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in pack out")
	cmd.Flags().StringArrayVar(&samples, "samples", nil, "annotated sample log file or directory (repeatable)")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var noBuiltin bool
	cmd := &cobra.Command{
		Use:   "list [PATH...]",
		Short: "List the loaded rules",
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := loadRules(noBuiltin, args)
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return errFailed
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tKIND\tFROM\tTITLE")
			for _, r := range rs {
				kind := "log"
				if r.IsProbe() {
					kind = "probe"
				}
				from := r.File
				if r.Builtin {
					from = "builtin"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, kind, from, strings.TrimSpace(r.Title))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in pack out")
	return cmd
}

// runSamples runs annotated sample logs through the whole rule set.
func runSamples(rs []*rules.Rule, paths []string, out io.Writer) (failed, lines int, err error) {
	if len(paths) == 0 {
		return 0, 0, nil
	}
	cases, err := samples.Load(paths...)
	if err != nil {
		return 0, 0, err
	}
	m, err := matcher.New(rs)
	if err != nil {
		return 0, 0, err
	}
	failures := samples.Run(m, cases)
	for _, f := range failures {
		fmt.Fprintln(out, "FAIL", f)
	}
	return len(failures), len(cases), nil
}
