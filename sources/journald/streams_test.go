package journald

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

// TestMissingAndEmptyDirectory: of the directories a DaemonSet lists (/var/log/journal
// and /run/log/journal), usually one holds the host's journal. A missing one and an
// empty one do not stop the good one from being read, and a journal that appears in
// the empty one later is read too.
func TestMissingAndEmptyDirectory(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			missing := filepath.Join(t.TempDir(), "missing")
			empty := t.TempDir()
			c := Config{Directories: []string{missing, env.Root, empty}, Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}
			src, err := New(c, sources.Deps{Name: "journal", Log: zaptest.NewLogger(t)})
			require.NoError(t, err)
			src.dirPoll = 10 * time.Millisecond
			r := run(t, src)
			send(t, env, id, numbered("good", 0, 20))
			got := r.texts(t, 20)
			require.Equal(t, numbered("good", 0, 20), got)

			testenv.WriteJournal(t, empty, []map[string]string{{"MESSAGE": "late journal", "SYSLOG_IDENTIFIER": id}})
			l := r.next(t)
			require.Equal(t, "late journal", l.Text)
			require.Equal(t, "journal:"+empty, l.Stream)
		})
	}
}

// TestUnitsAsJournalctl: units: matches what `journalctl -u` shows, PID 1's messages
// about the unit included (an OOM kill of one of its processes, which the systemd
// rules exist to catch), and not the same fields from senders that are not trusted.
func TestUnitsAsJournalctl(t *testing.T) {
	dir := t.TempDir()
	const unit = "redis-server.service"
	entries := []map[string]string{
		{"MESSAGE": "from the unit", "_SYSTEMD_UNIT": unit, "_PID": "42", "_UID": "110", "PRIORITY": "6"},
		{"MESSAGE": unit + ": A process of this unit has been killed by the OOM killer.", "_PID": "1", "_UID": "0", "_SYSTEMD_UNIT": "init.scope", "UNIT": unit, "PRIORITY": "4"},
		{"MESSAGE": "other.service: Failed with result 'oom-kill'.", "_PID": "1", "_UID": "0", "_SYSTEMD_UNIT": "init.scope", "UNIT": "other.service", "PRIORITY": "4"},
		{"MESSAGE": "UNIT= from a process that is not PID 1", "_PID": "4242", "_UID": "1000", "UNIT": unit, "PRIORITY": "4"},
		{"MESSAGE": "Process 42 (redis-server) of user 110 dumped core.", "MESSAGE_ID": coredumpMessageID, "_PID": "99", "_UID": "0", "COREDUMP_UNIT": unit, "PRIORITY": "2"},
		{"MESSAGE": "about the unit from a root daemon", "_PID": "77", "_UID": "0", "OBJECT_SYSTEMD_UNIT": unit, "PRIORITY": "5"},
		{"MESSAGE": "about the unit from a user", "_PID": "78", "_UID": "1000", "OBJECT_SYSTEMD_UNIT": unit, "PRIORITY": "5"},
	}
	testenv.WriteJournal(t, dir, entries)
	for _, tc := range []struct {
		name string
		c    Config
		args []string // the journalctl options that show the same
	}{
		{"units", Config{Units: []string{"redis-server"}, Priority: 7}, []string{"-u", "redis-server"}},
		{"units and priority", Config{Units: []string{"redis-server"}, Priority: 4}, []string{"-u", "redis-server", "-p", "4"}},
		{"two units", Config{Units: []string{"redis-server", "other"}, Priority: 7}, []string{"-u", "redis-server", "-u", "other"}},
	} {
		want := journalctlShows(t, dir, tc.args...)
		require.Contains(t, want, unit+": A process of this unit has been killed by the OOM killer.")
		for _, reader := range readers {
			t.Run(tc.name+"/"+reader, func(t *testing.T) {
				c := tc.c
				c.Directory, c.StartAt, c.Reader = dir, "beginning", reader
				r := start(t, c, nil, nil)
				require.Equal(t, want, r.texts(t, len(want)))
			})
		}
	}
}

// journalctlShows returns the messages `journalctl -D dir <args>` shows.
func journalctlShows(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	bin := testenv.NeedBinary(t, "journalctl")
	out, err := exec.Command(bin, append([]string{"-D", dir, "-o", "cat", "--no-pager", "--all"}, args...)...).Output()
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestCursorUnderAnotherFilter: a checkpoint whose entry the filter does not match
// (the filter changed, or the key was shared by two sources in an earlier release)
// resumes at the first matching entry after it, without skipping one.
func TestCursorUnderAnotherFilter(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id, other := identifier(t), identifier(t)
			cp := sourcestest.NewCheckpoints()
			send(t, env, id, []string{"before"})
			env.Send(t, other, "the checkpoint's entry", nil)
			send(t, env, id, []string{"after 1", "after 2"})
			o := start(t, Config{Identifiers: []string{other}, Priority: 7, StartAt: "beginning", Reader: reader}, nil, nil)
			l := o.next(t)
			o.stop(t)
			// As an earlier release stored it: under the bare stream name.
			require.NoError(t, cp.Save(context.Background(), sources.Cursor{Stream: "journal", Pos: l.Cursor.Pos}))

			r := start(t, Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}, cp, nil)
			require.Equal(t, []string{"after 1", "after 2"}, r.texts(t, 2))
			r.quiet(t, env, id)
		})
	}
}

// TestQuietStreamAcrossRestart: a stream that sent nothing before cowbell stopped (its
// filter matched nothing yet) reads what was logged while it was down: where it
// began was stored when it started.
func TestQuietStreamAcrossRestart(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			cp := sourcestest.NewCheckpoints()
			c := Config{Identifiers: []string{id}, Priority: 7, StartAt: "end", Reader: reader}
			send(t, env, id, []string{"before the first start"})
			env.Journalctl(t, "--sync")
			first := start(t, c, cp, nil)
			first.stop(t)
			send(t, env, id, numbered("while down", 0, 5))

			second := start(t, c, cp, nil)
			require.Equal(t, numbered("while down", 0, 5), second.texts(t, 5))
			second.quiet(t, env, id)
		})
	}
}

// run runs src until the test ends.
func run(t *testing.T, src *Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, out: make(chan *sources.Batch, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}
