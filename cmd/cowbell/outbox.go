package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/state"
)

func newOutboxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "Inspect undelivered notifications"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List notifications waiting for delivery and the dead-letter list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			st, err := state.Open(c.StateDir, nopLogger())
			if err != nil {
				return err
			}
			defer st.Close()
			names, err := st.Notifiers()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NOTIFIER\tSTATE\tSEQ\tKEY\tSTATUS\tENQUEUED\tATTEMPTS\tLAST ERROR")
			for _, name := range names {
				pending, err := st.Outbox(name)
				if err != nil {
					return err
				}
				dead, err := st.DeadLetters(name)
				if err != nil {
					return err
				}
				for _, e := range pending {
					printEntry(tw, "pending", e)
				}
				for _, e := range dead {
					printEntry(tw, "dead", e)
				}
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(list)
	return cmd
}

func printEntry(tw *tabwriter.Writer, what string, e state.Entry) {
	var head struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(e.Incident, &head)
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", e.Notifier, what, e.Seq, e.Key, head.Status,
		e.Enqueued.Format(time.RFC3339), e.Attempts, e.LastError)
}
