package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/sources"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, zaptest.NewLogger(t))
	require.NoError(t, err)
	return st
}

// reopen closes st and opens its directory again, as a restart would.
func reopen(t *testing.T, st *Store) *Store {
	t.Helper()
	require.NoError(t, st.Close())
	return open(t, filepath.Dir(st.Path()))
}

func TestOpenCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	st := open(t, dir)
	defer st.Close()
	require.Equal(t, filepath.Join(dir, FileName), st.Path())
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}

func TestCheckpointRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	_, ok, err := st.Load(ctx, "/var/log/redis.log")
	require.NoError(t, err)
	require.False(t, ok, "a stream never saved has no cursor")

	saves := []sources.Cursor{
		{Stream: "/var/log/redis.log", Pos: "dev=1,ino=2,off=10"},
		{Stream: "journal", Pos: "s=abc;i=1"},
		{Stream: "/var/log/redis.log", Pos: "dev=1,ino=2,off=99"},
		{Stream: "app", Pos: "f2;c:1:2:", Off: 120, Done: 80, Offset: true},
		{Stream: "joined", Pos: "f2;c:1:3:", Off: 120, Done: 300, Offset: true},
	}
	for _, c := range saves {
		require.NoError(t, st.Save(ctx, c))
	}
	st = reopen(t, st)
	defer st.Close()
	for stream, want := range map[string]string{"/var/log/redis.log": "dev=1,ino=2,off=99", "journal": "s=abc;i=1",
		"app": "f2;c:1:2:120", "joined": "f2;c:1:3:120+300"} {
		got, ok, err := st.Load(ctx, stream)
		require.NoError(t, err)
		require.True(t, ok, stream)
		require.Equal(t, want, got, stream)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, st.Save(cancelled, saves[0]), context.Canceled)
	_, _, err = st.Load(cancelled, "journal")
	require.ErrorIs(t, err, context.Canceled)
}

func TestCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	first := Batch{
		Cursors:    []sources.Cursor{{Stream: "redis.log", Pos: "100"}},
		Incidents:  []Record{{Key: "redis/fork/h1", Value: []byte(`{"count":1}`)}},
		Deliveries: []Delivery{{Notifier: "slack", Key: "redis/fork/h1", Incident: []byte(`{"key":"redis/fork/h1"}`)}},
	}
	require.NoError(t, st.Commit(ctx, first))

	// The second batch fails on its last delivery, after its cursor, incident and
	// first delivery were written inside the transaction: none of it may remain.
	second := Batch{
		Cursors:   []sources.Cursor{{Stream: "redis.log", Pos: "200"}},
		Incidents: []Record{{Key: "redis/fork/h2", Value: []byte(`{"count":1}`)}},
		Forget:    []string{"redis/fork/h1"},
		Deliveries: []Delivery{
			{Notifier: "slack", Key: "redis/fork/h2", Incident: []byte(`{"key":"redis/fork/h2"}`)},
			{Notifier: "pager", Key: "redis/fork/h2", Incident: []byte(`{not json`)},
		},
	}
	err := st.Commit(ctx, second)
	require.ErrorContains(t, err, "delivery 1")
	require.ErrorContains(t, err, st.Path())

	st = reopen(t, st)
	defer st.Close()
	pos, ok, err := st.Load(ctx, "redis.log")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "100", pos, "the failed batch's cursor must not be visible")
	incs, err := st.Incidents(ctx)
	require.NoError(t, err)
	require.Len(t, incs, 1)
	require.Equal(t, "redis/fork/h1", incs[0].Key, "the failed batch's forget must not be visible")
	out, err := st.Outbox("slack")
	require.NoError(t, err)
	require.Len(t, out, 1, "only the first batch's delivery is queued")
	require.Equal(t, "redis/fork/h1", out[0].Key)
	names, err := st.Notifiers()
	require.NoError(t, err)
	require.Equal(t, []string{"slack"}, names)
}

func TestCommitValidates(t *testing.T) {
	tests := []struct {
		name  string
		batch Batch
		want  string
	}{
		{"cursor without stream", Batch{Cursors: []sources.Cursor{{Pos: "1"}}}, "cursor without a stream"},
		{"incident without key", Batch{Incidents: []Record{{Value: []byte(`{}`)}}}, "incident state without a key"},
		{"delivery without notifier", Batch{Deliveries: []Delivery{{Key: "k", Incident: []byte(`{}`)}}}, "delivery without a notifier"},
		{"delivery not an object", Batch{Deliveries: []Delivery{{Notifier: "n", Key: "k", Incident: []byte(`{`)}}}, "not a JSON object"},
		{"delivery without a body", Batch{Deliveries: []Delivery{{Notifier: "n", Key: "k"}}}, "not a JSON object"},
	}
	st := open(t, t.TempDir())
	defer st.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, st.Commit(context.Background(), tt.batch), tt.want)
		})
	}
}

func TestIncidentsUpsertAndForget(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	a := Record{Key: "a", Value: []byte(`{"count":1}`)}
	b := Record{Key: "b", Value: []byte(`{"pid":"42"}`)}
	require.NoError(t, st.Commit(ctx, Batch{Incidents: []Record{b, a}}))

	a.Value = []byte(`{"count":3}`)
	require.NoError(t, st.Commit(ctx, Batch{Incidents: []Record{a}}))
	st = reopen(t, st)
	got, err := st.Incidents(ctx)
	require.NoError(t, err)
	require.Equal(t, []Record{a, b}, got, "upserted by key, ordered by key")

	// Forget runs before upserts: a key resolved and reopened in one batch stays.
	reopened := Record{Key: "b", Value: []byte(`{"count":1}`)}
	require.NoError(t, st.Commit(ctx, Batch{Forget: []string{"a", "b"}, Incidents: []Record{reopened}}))
	st = reopen(t, st)
	defer st.Close()
	got, err = st.Incidents(ctx)
	require.NoError(t, err)
	require.Equal(t, []Record{reopened}, got)
}

func TestOpenCorruptFileNamesPath(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"text", bytes.Repeat([]byte("not a database\n"), 1000)},
		{"zeros", make([]byte, 32<<10)},
		{"short", []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			require.NoError(t, os.WriteFile(path, tt.data, 0o600))
			_, err := Open(dir, zaptest.NewLogger(t))
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, path)
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, tt.data, after, "a corrupt store is never reset")
		})
	}
}

func TestOpenLockedNamesPath(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 50 * time.Millisecond
	dir := t.TempDir()
	st := open(t, dir)
	defer st.Close()
	_, err := Open(dir, zaptest.NewLogger(t))
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, st.Path())
}

func TestKV(t *testing.T) {
	st := open(t, t.TempDir())
	slack, pager := st.KV("slack"), st.KV("pager")
	_, ok, err := slack.Get("k1")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, slack.Delete("k1"), "deleting an unset key is fine")
	require.NoError(t, slack.Put("k1", "1700000000.000100"))
	require.NoError(t, pager.Put("k1", "other"))
	require.NoError(t, slack.Put("k2", ""))
	require.Error(t, slack.Put("", "v"))

	st = reopen(t, st)
	defer st.Close()
	slack, pager = st.KV("slack"), st.KV("pager")
	for _, c := range []struct {
		kv   *KV
		key  string
		want string
	}{{slack, "k1", "1700000000.000100"}, {pager, "k1", "other"}, {slack, "k2", ""}} {
		got, ok, err := c.kv.Get(c.key)
		require.NoError(t, err)
		require.True(t, ok, c.key)
		require.Equal(t, c.want, got)
	}
	require.NoError(t, slack.Delete("k1"))
	_, ok, err = slack.Get("k1")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = pager.Get("k1")
	require.NoError(t, err)
	require.True(t, ok, "namespaces are separate")
}

// damagedStore writes a store with enough in it to span many pages, closes it and
// returns its path and page size.
func damagedStore(t *testing.T, dir string) (path string, pageSize int) {
	t.Helper()
	st := open(t, dir)
	var b Batch
	for i := range 400 {
		b.Deliveries = append(b.Deliveries, Delivery{Notifier: "hook", Key: fmt.Sprint("k", i), Incident: []byte(`{"pad":"` + strings.Repeat("x", 300) + `"}`)})
		b.Cursors = append(b.Cursors, sources.Cursor{Stream: fmt.Sprint("/var/log/pods/", i), Pos: "f1:c:1:2:3"})
	}
	require.NoError(t, st.Commit(context.Background(), b))
	require.NoError(t, st.Close())
	return st.Path(), os.Getpagesize()
}

// damagePage writes v at offset off of the header of the hook outbox's root page.
func damagePage(t *testing.T, path string, pageSize, off int, v uint16) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	var root int64
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket(bucketOutbox).Bucket([]byte("hook")).Root())
		return nil
	}))
	require.NoError(t, db.Close())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(binary.LittleEndian.AppendUint16(nil, v), root*int64(pageSize)+int64(off))
	require.NoError(t, err)
}

// TestOpenDamagedStore: a store damaged in the ways a crash, a full disk or a bad
// block leave it is an error naming the file, never a panic or a fault of the process;
// OpenRecover moves it aside (kept) and starts afresh.
func TestOpenDamagedStore(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, pageSize int)
		want   string
	}{
		{"cut short", func(t *testing.T, path string, _ int) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		}, "cut short"},
		// Pages the outbox reads, damaged: bbolt asserts (panics) when it meets them,
		// which used to happen while delivering, long after Open.
		{"outbox page type", func(t *testing.T, path string, pageSize int) {
			damagePage(t, path, pageSize, 8, 0x40) // page flags: no such type
		}, "unexpected type/flags"},
		{"outbox page count", func(t *testing.T, path string, pageSize int) {
			damagePage(t, path, pageSize, 10, 0xffff) // element count past the page
		}, "assertion failed"},
		{"meta pages zeroed", func(t *testing.T, path string, pageSize int) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 2*pageSize), 0)
			require.NoError(t, err)
		}, "not a bbolt file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, pageSize := damagedStore(t, dir)
			tt.damage(t, path, pageSize)
			damaged, err := os.ReadFile(path)
			require.NoError(t, err)

			_, err = Open(dir, zaptest.NewLogger(t))
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tt.want)

			st, rec, err := OpenRecover(dir, zaptest.NewLogger(t))
			require.NoError(t, err)
			defer st.Close()
			require.NotNil(t, rec)
			require.ErrorIs(t, rec.Reason, ErrCorrupt)
			kept, err := os.ReadFile(rec.MovedTo)
			require.NoError(t, err)
			require.Equal(t, damaged, kept, "the damaged store is kept as it was")
			require.Zero(t, st.Len("hook"), "a fresh store")
			require.NoError(t, st.Commit(context.Background(), Batch{Deliveries: deliveries("hook", "a")}))
		})
	}

	// A sound store is not touched.
	dir := t.TempDir()
	damagedStore(t, dir)
	st, rec, err := OpenRecover(dir, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Nil(t, rec)
	require.Equal(t, 400, st.Len("hook"))
	require.NoError(t, st.Close())
}

// TestBatchMerge: two batches merged write what committing one after the other would.
func TestBatchMerge(t *testing.T) {
	ctx := context.Background()
	first := Batch{
		Cursors:    []sources.Cursor{{Stream: "a.log", Pos: "1"}, {Stream: "b.log", Pos: "7"}},
		Incidents:  []Record{{Key: "k1", Value: []byte(`1`)}, {Key: "k2", Value: []byte(`1`)}},
		Forget:     []string{"k3"},
		Deliveries: deliveries("hook", "k1"),
	}
	second := Batch{
		Cursors:    []sources.Cursor{{Stream: "a.log", Pos: "2"}},
		Incidents:  []Record{{Key: "k3", Value: []byte(`2`)}, {Key: "k1", Value: []byte(`2`)}},
		Forget:     []string{"k2"},
		Deliveries: deliveries("hook", "k3"),
	}
	one, two := open(t, t.TempDir()), open(t, t.TempDir())
	defer one.Close()
	defer two.Close()
	require.NoError(t, one.Commit(ctx, Batch{Incidents: []Record{{Key: "k3", Value: []byte(`0`)}}}))
	require.NoError(t, two.Commit(ctx, Batch{Incidents: []Record{{Key: "k3", Value: []byte(`0`)}}}))
	require.NoError(t, one.Commit(ctx, first))
	require.NoError(t, one.Commit(ctx, second))
	require.NoError(t, two.Commit(ctx, first.Merge(second)))
	for _, st := range []*Store{one, two} {
		incs, err := st.Incidents(ctx)
		require.NoError(t, err)
		require.Equal(t, []Record{{Key: "k1", Value: []byte(`2`)}, {Key: "k3", Value: []byte(`2`)}}, incs)
		pos, _, err := st.Load(ctx, "a.log")
		require.NoError(t, err)
		require.Equal(t, "2", pos)
		pos, _, err = st.Load(ctx, "b.log")
		require.NoError(t, err)
		require.Equal(t, "7", pos)
		out, err := st.Outbox("hook")
		require.NoError(t, err)
		require.Equal(t, []string{"k1", "k3"}, keys(out))
	}
	require.Len(t, first.Cursors, 2, "the batches merged are left as they were")
}
