// Package sourcestest holds what the sources' tests share.
package sourcestest

import (
	"context"
	"sync"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// Checkpoints keeps cursors in memory, as the pipeline's store does on disk.
type Checkpoints struct {
	mu  sync.Mutex
	pos map[string]string
}

var _ sources.Checkpoints = (*Checkpoints)(nil)

// NewCheckpoints returns an empty in-memory store.
func NewCheckpoints() *Checkpoints { return &Checkpoints{pos: map[string]string{}} }

// Load returns the cursor saved for stream.
func (c *Checkpoints) Load(_ context.Context, stream string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pos[stream]
	return p, ok, nil
}

// Save keeps each cursor as its stream's.
func (c *Checkpoints) Save(_ context.Context, cs ...sources.Cursor) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cur := range cs {
		c.pos[cur.Stream] = cur.Position()
	}
	return nil
}
