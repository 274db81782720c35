// Package console prints incidents for a person at a terminal (or as JSON lines for a
// program): what happened, where, the lines, the diagnosis and the host's memory facts.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Notifier writes incidents to a stream.
type Notifier struct {
	w     io.Writer
	color bool
	json  bool

	mu sync.Mutex // one incident's text is written whole
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a console Notifier writing to the stream c.Output names: d.Stdout or
// d.Stderr, the process's own when they are nil.
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	w := d.Stdout
	if c.Output == "stderr" {
		w = d.Stderr
	}
	if w == nil {
		w = c.Writer()
	}
	return To(c, w), nil
}

// To makes a console Notifier writing to w.
func To(c Config, w io.Writer) *Notifier {
	return &Notifier{w: w, color: c.Color, json: c.JSON}
}

// Notify writes inc. A stream that cannot be written will not heal, so a write error
// is not retried.
func (n *Notifier) Notify(_ context.Context, inc *incidents.Incident) (retry bool, err error) {
	var buf bytes.Buffer
	if n.json {
		b, err := json.Marshal(inc)
		if err != nil {
			return false, fmt.Errorf("encode incident %s: %w", inc.Key, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	} else {
		render(&buf, inc, n.color)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.w.Write(buf.Bytes()); err != nil {
		return false, fmt.Errorf("write incident %s to console: %w", inc.Key, err)
	}
	return false, nil
}
