package journald

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

func TestRotationAndVacuumWhileFollowing(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			r := start(t, Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}, nil, nil)
			send(t, env, id, numbered("before", 0, 50))
			require.Equal(t, numbered("before", 0, 50), r.texts(t, 50))

			send(t, env, id, numbered("around", 0, 50))
			env.Journalctl(t, "--rotate")
			send(t, env, id, numbered("after rotate", 0, 50))
			env.Journalctl(t, "--rotate")
			env.Journalctl(t, "--vacuum-files=1") // deletes the archived files just read
			send(t, env, id, numbered("after vacuum", 0, 50))

			want := append(numbered("around", 0, 50), numbered("after rotate", 0, 50)...)
			want = append(want, numbered("after vacuum", 0, 50)...)
			require.Equal(t, want, r.texts(t, len(want)), "every line once, in order")
			r.quiet(t, env, id)
		})
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	env := testenv.Journald(t)
	// A checkpoint written by one reader resumes the other: both store the cursor.
	for _, pair := range [][2]string{
		{ReaderSDJournal, ReaderSDJournal},
		{ReaderJournalctl, ReaderJournalctl},
		{ReaderSDJournal, ReaderJournalctl},
		{ReaderJournalctl, ReaderSDJournal},
	} {
		if !slices.Contains(readers, pair[0]) || !slices.Contains(readers, pair[1]) {
			continue
		}
		t.Run(pair[0]+" then "+pair[1], func(t *testing.T) {
			id := identifier(t)
			cp := sourcestest.NewCheckpoints()
			c := Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: pair[0]}
			send(t, env, id, numbered("line", 0, 20))

			first := start(t, c, cp, nil)
			for i := range 10 {
				l := first.next(t)
				require.Equal(t, numbered("line", i, i+1)[0], l.Text)
				require.NoError(t, cp.Save(context.Background(), l.Cursor)) // the pipeline handled it
			}
			first.stop(t)
			send(t, env, id, numbered("line", 20, 30)) // written while cowbell was down

			c.Reader = pair[1]
			second := start(t, c, cp, nil)
			require.Equal(t, numbered("line", 10, 30), second.texts(t, 20), "no line twice, none lost")
			second.quiet(t, env, id)
		})
	}
}

func TestRestartResumesAfterLastSent(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			cp := sourcestest.NewCheckpoints()
			c := Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}
			src, err := New(c, sources.Deps{Name: "journal", Checkpoints: cp, Log: zaptest.NewLogger(t)})
			require.NoError(t, err)
			send(t, env, id, numbered("line", 0, 10))

			// Two runs of one Source, as Supervise restarts it: the second goes on
			// after the lines the first sent, though none was checkpointed.
			for round := range 2 {
				ctx, cancel := context.WithCancel(context.Background())
				out := make(chan *sources.Batch)
				done := make(chan error, 1)
				go func() { done <- src.Run(ctx, out) }()
				r := &running{src: src, out: out, cancel: cancel, done: done}
				require.Equal(t, numbered("line", round*5, round*5+5), r.texts(t, 5))
				r.stop(t)
			}
		})
	}
}

// TestTwoSourcesKeepTheirOwnPositions: two journald sources (journald filters AND
// across fields, so "a unit OR the kernel" takes two) each resume from their own
// position after a restart, not from whichever saved last.
func TestTwoSourcesKeepTheirOwnPositions(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			idA, idB := identifier(t)+"-a", identifier(t)+"-b"
			cp := sourcestest.NewCheckpoints()
			ca := Config{Identifiers: []string{idA}, Priority: 7, StartAt: "beginning", Reader: reader}
			cb := Config{Identifiers: []string{idB}, Priority: 7, StartAt: "beginning", Reader: reader}
			send(t, env, idB, numbered("b", 0, 10))
			send(t, env, idA, numbered("a", 0, 10))

			// b handles five lines, then a ten (a's last line is the newest entry).
			b := startNamed(t, "b", cb, cp, nil)
			require.Equal(t, numbered("b", 0, 5), handled(t, b, cp, 5))
			b.stop(t)
			a := startNamed(t, "a", ca, cp, nil)
			require.Equal(t, numbered("a", 0, 10), handled(t, a, cp, 10))
			a.stop(t)
			send(t, env, idB, numbered("b", 10, 15)) // while cowbell was down
			send(t, env, idA, numbered("a", 10, 15))

			b2 := startNamed(t, "b", cb, cp, nil)
			require.Equal(t, numbered("b", 5, 15), b2.texts(t, 10), "b goes on after its own last line")
			b2.quiet(t, env, idB)
			a2 := startNamed(t, "a", ca, cp, nil)
			require.Equal(t, numbered("a", 10, 15), a2.texts(t, 5), "a goes on after its own last line")
			a2.quiet(t, env, idA)
		})
	}
}

// handled reads n lines and saves each one's cursor, as the pipeline does once a line
// is handled; it returns their texts.
func handled(t *testing.T, r *running, cp sources.Checkpoints, n int) []string {
	t.Helper()
	var texts []string
	for range n {
		l := r.next(t)
		require.NoError(t, cp.Save(context.Background(), l.Cursor))
		texts = append(texts, l.Text)
	}
	return texts
}
