package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/internal/termtext"
	"github.com/cowbell-sidecar/cowbell/state"
)

func newOutboxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "Inspect undelivered notifications, retry or purge dead letters"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List notifications waiting for delivery and the dead-letter list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(g)
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
	retry := &cobra.Command{
		Use:   "retry [NOTIFIER]...",
		Short: "Queue the dead letters of these notifiers (default: all) for delivery again",
		Long: `Retry moves the dead letters of the named notifiers (all, when none is named) back
to the end of their queues, with their attempts reset: after a notifier's token or
URL is fixed, the incidents it rejected are delivered at the next start. The state
store is locked while cowbell runs: stop it first (systemctl stop cowbell).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachDeadNotifier(g, cmd, args, "requeued", (*state.Store).Requeue)
		},
	}
	purge := &cobra.Command{
		Use:   "purge NOTIFIER...",
		Short: "Delete the dead letters of these notifiers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachDeadNotifier(g, cmd, args, "deleted", (*state.Store).Purge)
		},
	}
	cmd.AddCommand(list, retry, purge)
	return cmd
}

// eachDeadNotifier applies do to the dead letters of the named notifiers (all that
// have any, when none is named) and prints how many each moved.
func eachDeadNotifier(g *globals, cmd *cobra.Command, names []string, did string, do func(*state.Store, string) (int, error)) error {
	st, err := openStore(g)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(names) == 0 {
		all, err := st.Notifiers()
		if err != nil {
			return err
		}
		for _, n := range all {
			if dead, err := st.DeadLetters(n); err != nil {
				return err
			} else if len(dead) > 0 {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		moved, err := do(st, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %d dead letter(s) %s\n", n, moved, did)
	}
	return nil
}

func printEntry(tw *tabwriter.Writer, what string, e state.Entry) {
	var head struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(e.Incident, &head)
	// Keys come from log captures and errors quote endpoints' answers: cleaned, so
	// neither can act on the terminal (nor break the table with a tab).
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", e.Notifier, what, e.Seq, cell(e.Key), cell(head.Status),
		e.Enqueued.Format(time.RFC3339), e.Attempts, cell(e.LastError))
}

// cell is untrusted text made fit for one cell of a table on a terminal.
func cell(s string) string {
	return strings.ReplaceAll(termtext.Clean(s), "\t", " ")
}

// openStore opens the state store the configuration names (locked while cowbell runs).
func openStore(g *globals) (*state.Store, error) {
	c, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	return state.Open(c.StateDir, nopLogger())
}
