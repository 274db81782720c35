package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/internal/termtext"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func newNotifyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Check notifiers"}
	var timeout time.Duration
	test := &cobra.Command{
		Use:   "test [NAME]",
		Short: "Send a clearly marked test incident through each notifier (or NAME) and report each answer",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			if c.Host != "" {
				host = c.Host
			}
			inc := notifiers.TestIncident(host, time.Now())
			out := cmd.OutOrStdout()
			failed, tried := 0, 0
			for _, nc := range c.Notifiers {
				if len(args) == 1 && nc.Name != args[0] {
					continue
				}
				tried++
				n, err := nc.New(notifiers.Deps{Log: zap.NewNop()})
				if err == nil {
					ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
					_, err = n.Notify(ctx, inc)
					cancel()
				}
				if err != nil {
					failed++
					fmt.Fprintf(out, "%s (%s): FAILED: %s\n", nc.Name, nc.Type, termtext.Clean(err.Error()))
					continue
				}
				fmt.Fprintf(out, "%s (%s): ok\n", nc.Name, nc.Type)
			}
			if tried == 0 {
				return fmt.Errorf("no notifier named %q", args[0])
			}
			if failed > 0 {
				return errFailed
			}
			return nil
		},
	}
	test.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "time allowed for each notifier")
	cmd.AddCommand(test)
	return cmd
}
