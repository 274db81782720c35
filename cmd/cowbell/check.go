package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/pipeline"
	"github.com/cowbell-sidecar/cowbell/rules"
)

func newCheckCmd(g *globals) *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and rules; list every error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			c, err := g.loadConfig()
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return errFailed
			}
			c.Rules.Paths = append(c.Rules.Paths, paths...)
			var errs []error
			rs, err := pipeline.LoadRules(c)
			errs = append(errs, err)
			_, nerrs := pipeline.BuildNotifiers(c, nil, zap.NewNop())
			errs = append(errs, nerrs...)
			errs = append(errs, c.Snapshot.CheckFiles())
			if err := errors.Join(errs...); err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return errFailed
			}
			fmt.Fprintf(out, "ok: %d rules, %d sources, %d notifiers\n", len(rs), len(c.Sources), len(c.Notifiers))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&paths, "rules", nil, "extra rule file or directory (repeatable)")
	return cmd
}

// loadRules loads the built-in pack (unless noBuiltin) and paths.
func loadRules(noBuiltin bool, paths []string) ([]*rules.Rule, error) {
	return rules.Load(rules.LoadOptions{Builtin: !noBuiltin, Paths: paths})
}
