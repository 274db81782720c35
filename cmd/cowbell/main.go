// Command cowbell rings before memory trouble takes a database down: it reads Redis,
// PostgreSQL and kernel logs, matches them against rules, enriches each hit with the
// host's memory accounting and tells people what to do.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	_ "time/tzdata" // time_zone works in images without /usr/share/zoneinfo

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/config"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// errFailed makes main exit 1 after a command already printed why.
var errFailed = errors.New("failed")

// graceful is set by a command that stops cleanly when its context is cancelled (run:
// it commits cursors and lets deliveries in flight finish). Any other command ends at
// once on SIGINT or SIGTERM: loading, checking or replaying has nothing to save, and a
// supervisor must not need SIGKILL to stop it.
var graceful atomic.Bool

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		cancel()
		if graceful.Load() {
			s = <-sig // a second signal: stop now
		}
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	err := newRoot().ExecuteContext(ctx)
	cancel()
	if err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "cowbell:", err)
		}
		os.Exit(1)
	}
}

// globals are the flags every command shares.
type globals struct {
	configPath string
	logLevel   string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "cowbell",
		Short:         "Ring before memory trouble takes a database down",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", os.Getenv("COWBELL_CONFIG"),
		"configuration file (default: embedded defaults; env COWBELL_CONFIG)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "override the log level (debug, info, warn, error)")
	root.AddCommand(
		newRunCmd(g), newCheckCmd(g), newRulesCmd(g), newReplayCmd(g), newSnapshotCmd(g),
		newNotifyCmd(g), newOutboxCmd(g), newVersionCmd(),
	)
	return root
}

// loadConfig reads --config, or builds the embedded defaults when none is given.
func (g *globals) loadConfig() (*config.Config, error) {
	var c *config.Config
	if g.configPath == "" {
		c = config.Defaults(config.LiveProbe())
	} else {
		var err error
		if c, err = config.Load(g.configPath); err != nil {
			return nil, err
		}
		if c.StateDir == "" {
			c.StateDir = config.DefaultStateDir(config.LiveProbe())
		}
		if len(c.Notifiers) == 0 {
			c.Notifiers = config.DefaultNotifiers()
		}
	}
	if g.logLevel != "" {
		c.Log.Level = g.logLevel
	}
	return c, nil
}
