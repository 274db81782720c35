package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/termtext"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func newNotifyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Check notifiers"}
	var timeout time.Duration
	test := &cobra.Command{
		Use:   "test [NAME]",
		Short: "Send a clearly marked test incident through each notifier (or NAME), resolve it where the vendor keeps alerts open, and report every endpoint's answer",
		Long: `Send a clearly marked test incident through each notifier (or NAME) the way the
daemon would, and report what each endpoint answered (each member of an
Alertmanager cluster on its own), whether the daemon would retry a failure, and the
timeouts in force. Where the vendor keeps an alert open until it is resolved
(PagerDuty, Zenduty, Alertmanager), the test alert is resolved right after, so a
test pages nobody for long. It exits 1 if any notifier or endpoint failed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			if c.Host != "" {
				host = c.Host
			}
			if timeout == 0 {
				timeout = c.Outbox.Timeout
			}
			inc := notifiers.TestIncident(host, time.Now())
			out := cmd.OutOrStdout()
			failed, tried := 0, 0
			for _, nc := range c.Notifiers {
				if len(args) == 1 && nc.Name != args[0] {
					continue
				}
				tried++
				if !testNotifier(cmd.Context(), out, nc, inc, timeout) {
					failed++
				}
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
	test.Flags().DurationVar(&timeout, "timeout", 0, "time allowed for each attempt (default: outbox.timeout, as the daemon)")
	cmd.AddCommand(test)
	return cmd
}

// testNotifier sends the test incident through one notifier (and its resolve, for a
// notifiers.Alerter), prints what happened and reports whether all went well.
func testNotifier(ctx context.Context, out io.Writer, nc config.Notifier, inc *incidents.Incident, timeout time.Duration) bool {
	n, err := nc.New(notifiers.Deps{Name: nc.Name, Log: zap.NewNop()})
	if err != nil {
		fmt.Fprintf(out, "%s (%s): FAILED: %s\n", nc.Name, nc.Type, termtext.Clean(err.Error()))
		return false
	}
	steps := []*incidents.Incident{inc}
	if a, ok := n.(notifiers.Alerter); ok && a.OpensAlerts() {
		resolved := *inc
		at := time.Now().UTC()
		resolved.Status, resolved.ResolvedAt = incidents.StatusResolved, &at
		steps = append(steps, &resolved)
	}
	var report []string
	ok, delivered := true, true
	for _, step := range steps {
		name := "trigger"
		if step.Status == incidents.StatusResolved {
			name = "resolve"
		}
		exchanges, retry, err := attempt(ctx, n, step, timeout)
		for _, ex := range exchanges {
			if ex.Err != nil || ex.Status/100 != 2 {
				ok = false
			}
			report = append(report, fmt.Sprintf("  %s: %s", name, termtext.Clean(ex.String())))
		}
		if err != nil {
			ok, delivered = false, false
			verdict := "the daemon would not retry it: the notification would go to the dead letters"
			if retry {
				verdict = "the daemon would retry it, with backoff"
			}
			report = append(report, fmt.Sprintf("  %s FAILED: %s\n    %s", name, termtext.Clean(err.Error()), verdict))
			break // no resolve for a trigger that did not go out
		}
	}
	status := "ok"
	switch {
	case !delivered:
		status = "FAILED"
	case !ok:
		status = "delivered, but an endpoint FAILED (the daemon counts it delivered and logs the endpoint)"
	}
	fmt.Fprintf(out, "%s (%s): %s\n", nc.Name, nc.Type, status)
	for _, l := range report {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintf(out, "  timeouts: %s per attempt (outbox.timeout)%s\n", timeout, requestTimeout(nc))
	return ok
}

// attempt makes one delivery attempt under the daemon's deadline and records every
// HTTP exchange it made.
func attempt(ctx context.Context, n notifiers.Notifier, inc *incidents.Incident, timeout time.Duration) ([]notifiers.Exchange, bool, error) {
	var mu sync.Mutex
	var exchanges []notifiers.Exchange
	ctx = notifiers.WithTrace(ctx, func(ex notifiers.Exchange) {
		mu.Lock()
		defer mu.Unlock()
		exchanges = append(exchanges, ex)
	})
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	retry, err := n.Notify(ctx, inc)
	mu.Lock()
	defer mu.Unlock()
	return exchanges, retry, err
}

// requestTimeout names an HTTP receiver's own timeout for one request.
func requestTimeout(nc config.Notifier) string {
	if h, ok := nc.Config.(interface{ RequestTimeout() time.Duration }); ok {
		return fmt.Sprintf(", %s per request (timeout)", h.RequestTimeout())
	}
	return ""
}
