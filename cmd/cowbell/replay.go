package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/termtext"
	"github.com/cowbell-sidecar/cowbell/notifiers/console"
	"github.com/cowbell-sidecar/cowbell/pipeline"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		rulePaths  []string
		noBuiltin  bool
		asJSON     bool
		hits       bool
		format     string
		noSnapshot bool
		timeZone   string
	)
	cmd := &cobra.Command{
		Use:   "replay [--rules PATH]... [--no-builtin] [--json] [--hits] FILE...|-",
		Short: "Run rules over log files offline and print incidents (or hits)",
		Long: `Replay decodes each file as the live sources do (plain, Docker json-file, CRI,
PostgreSQL csvlog or jsonlog, journal export JSON,
detected per file) and runs the rules on the logs' own time: it prints the incidents
the live run would have raised. --hits prints every line that matches a rule's match
patterns instead, ignoring thresholds and cooldowns. --json prints one JSON object a
line: incidents in the cowbell.incident/v1 schema, hits as {"rule","line","captures"}.
Advice conditions are evaluated on this host's live snapshot unless --no-snapshot.
Stamps that do not name their zone (Redis, syslog) are read in --time-zone. Gzipped
input (a rotated redis-server.log.2.gz) is read as it is.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			// The same rules as the live run: the pack, --rules, and the default cooldown,
			// loaded while the first lines are read.
			c.Rules.Builtin, c.Rules.Paths = !noBuiltin, rulePaths
			var loadErr error
			load := func() ([]*rules.Rule, error) {
				rs, err := pipeline.LoadRules(c)
				loadErr = err
				return rs, err
			}
			var inputs []pipeline.Input
			for _, a := range args {
				r := cmd.InOrStdin()
				if a != "-" {
					// Not blocking on a FIFO without a writer (a pipe from a shell's
					// process substitution has one, and is read as it comes).
					f, err := os.OpenFile(a, os.O_RDONLY|syscall.O_NONBLOCK, 0)
					if err == nil {
						err = syscall.SetNonblock(int(f.Fd()), false)
					}
					if err != nil {
						return fmt.Errorf("replay: %w", err)
					}
					defer f.Close()
					r = f
				}
				r, err := decompress(r)
				if err != nil {
					return fmt.Errorf("replay %s: %w", a, err)
				}
				inputs = append(inputs, pipeline.Input{Name: a, Reader: r})
			}
			loc, err := time.LoadLocation(timeZone)
			if err != nil {
				return fmt.Errorf("replay: --time-zone: %w", err)
			}
			o := pipeline.ReplayOptions{Format: file.Format(format), Hits: hits, Location: loc}
			if !noSnapshot && !hits {
				s := enrich.New(c.Snapshot, nopLogger()).Snapshot(cmd.Context())
				o.Snapshot = &s
				o.Host = pipeline.Host(c, s)
				o.Node = s.MachineID + "/" + s.BootID
			} else {
				o.Host, _ = os.Hostname()
			}
			if os.Getenv("GOGC") == "" {
				// A replay allocates every line it reads and keeps almost none: with
				// the default GOGC the collector took a quarter of its CPU on 2M
				// lines; at 400 it takes a third of that, for about 10 MB more RSS.
				debug.SetGCPercent(replayGCPercent)
			}
			err = pipeline.ReplayRules(cmd.Context(), load, inputs, o, emitter(cmd.Context(), cmd.OutOrStdout(), asJSON))
			if loadErr != nil {
				printErrors(cmd.ErrOrStderr(), loadErr)
				return errFailed
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rulePaths, "rules", nil, "rule file or directory (repeatable)")
	f.BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in pack out")
	f.BoolVar(&asJSON, "json", false, "print JSON, one object a line")
	f.BoolVar(&hits, "hits", false, "print every matching line instead of incidents")
	f.StringVar(&format, "format", "auto", "log format: auto, plain, docker, cri, csvlog, jsonlog or journal-json")
	f.BoolVar(&noSnapshot, "no-snapshot", false, "do not read this host's snapshot (unconditional advice only)")
	f.StringVar(&timeZone, "time-zone", "Local", "zone of stamps that name none (Redis, syslog): an IANA name, UTC or Local")
	return cmd
}

// replayGCPercent is replay's GOGC unless the environment sets one.
const replayGCPercent = 400

// emitter prints replay results as JSON lines or for people.
func emitter(ctx context.Context, w io.Writer, asJSON bool) func(any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	human := console.To(console.DefaultConfig, w)
	return func(v any) error {
		if asJSON {
			return enc.Encode(v)
		}
		switch x := v.(type) {
		case *incidents.Incident:
			_, err := human.Notify(ctx, x)
			return err
		case pipeline.ReplayHit:
			_, err := fmt.Fprintf(w, "%s\t%s\n", x.Rule, termtext.Clean(x.Line))
			return err
		}
		return nil
	}
}

// decompress reads r through gzip when it starts with gzip's magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil // short or plain: read as it is
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return zr, nil
}
