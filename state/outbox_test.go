package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cowbell-sidecar/cowbell/sources"
)

func deliveries(notifier string, keys ...string) []Delivery {
	out := make([]Delivery, len(keys))
	for i, k := range keys {
		out[i] = Delivery{Notifier: notifier, Key: k, Status: "firing", Incident: []byte(fmt.Sprintf(`{"key":%q}`, k))}
	}
	return out
}

func keys(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func TestOutboxOrderAckPostponeBury(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st.now = func() time.Time { return t0 }
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: deliveries("hook", "a", "b")}))
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: append(deliveries("hook", "c"), deliveries("slack", "a")...)}))

	out, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, keys(out))
	require.Less(t, out[0].Seq, out[1].Seq)
	require.Less(t, out[1].Seq, out[2].Seq)
	require.Equal(t, t0, out[0].Enqueued)
	require.JSONEq(t, `{"key":"a"}`, string(out[0].Incident))

	head, ok, err := st.Head("hook")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, out[0], head)

	next := t0.Add(time.Minute)
	require.NoError(t, st.Postpone("hook", head.Seq, next, "endpoint answered 503"))
	require.NoError(t, st.Postpone("hook", head.Seq, next.Add(time.Minute), "timeout"))
	st = reopen(t, st)
	defer st.Close()
	head, _, err = st.Head("hook")
	require.NoError(t, err)
	require.Equal(t, 2, head.Attempts)
	require.Equal(t, "firing", head.Status, "the status queued beside the body stays with it")
	require.Equal(t, next.Add(time.Minute), head.NextAttempt)
	require.Equal(t, "timeout", head.LastError)

	require.NoError(t, st.Ack("hook", head.Seq))
	require.ErrorIs(t, st.Ack("hook", head.Seq), ErrNoEntry)
	require.NoError(t, st.Bury("hook", out[1].Seq, "endpoint answered 400 Bad Request: no"))
	require.ErrorIs(t, st.Bury("hook", out[1].Seq, "again"), ErrNoEntry)

	pending, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, keys(pending))
	require.Equal(t, 1, st.Len("hook"))
	dead, err := st.DeadLetters("hook")
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "b", dead[0].Key)
	require.Equal(t, "firing", dead[0].Status)
	require.Equal(t, 1, dead[0].Attempts)
	require.Equal(t, "endpoint answered 400 Bad Request: no", dead[0].LastError)
	require.JSONEq(t, `{"key":"b"}`, string(dead[0].Incident))
}

func TestNotifiersListsPendingAndDead(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	defer st.Close()
	names, err := st.Notifiers()
	require.NoError(t, err)
	require.Empty(t, names)

	require.NoError(t, st.Commit(ctx, Batch{Deliveries: append(deliveries("slack", "a"), deliveries("hook", "a")...)}))
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: deliveries("console", "a")}))
	hook, _, err := st.Head("hook")
	require.NoError(t, err)
	require.NoError(t, st.Bury("hook", hook.Seq, "400"))
	con, _, err := st.Head("console")
	require.NoError(t, err)
	require.NoError(t, st.Ack("console", con.Seq))

	names, err = st.Notifiers()
	require.NoError(t, err)
	require.Equal(t, []string{"hook", "slack"}, names, "console has nothing left; hook has a dead letter")
}

func TestTrim(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		maxEntries int
		maxAge     time.Duration
		now        time.Time
		wantKept   []string
		wantDrops  map[string]string // key → reason
	}{
		{"no bound", 0, 0, t0.Add(1000 * time.Hour), []string{"k0", "k1", "k2", "k3", "k4"}, map[string]string{}},
		{"within bounds", 5, time.Hour, t0.Add(10 * time.Minute), []string{"k0", "k1", "k2", "k3", "k4"}, map[string]string{}},
		{"too many", 2, 0, t0, []string{"k3", "k4"}, map[string]string{"k0": DropMaxEntries, "k1": DropMaxEntries, "k2": DropMaxEntries}},
		// k0..k4 were queued a minute apart: at t0+3m30s with maxAge 2m, k0 and k1 are too old.
		{"too old", 0, 2 * time.Minute, t0.Add(3*time.Minute + 30*time.Second), []string{"k2", "k3", "k4"}, map[string]string{"k0": DropMaxAge, "k1": DropMaxAge}},
		{"both", 4, 2 * time.Minute, t0.Add(3*time.Minute + 30*time.Second), []string{"k2", "k3", "k4"}, map[string]string{"k0": DropMaxEntries, "k1": DropMaxAge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t, t.TempDir())
			defer st.Close()
			for i := range 5 {
				st.now = func() time.Time { return t0.Add(time.Duration(i) * time.Minute) }
				require.NoError(t, st.Commit(context.Background(), Batch{Deliveries: deliveries("hook", fmt.Sprintf("k%d", i))}))
			}
			dropped, err := st.Trim("hook", tt.maxEntries, tt.maxAge, tt.now)
			require.NoError(t, err)
			got := map[string]string{}
			for _, d := range dropped {
				got[d.Entry.Key] = d.Reason
				require.Nil(t, d.Entry.Incident)
			}
			require.Equal(t, tt.wantDrops, got)
			kept, err := st.Outbox("hook")
			require.NoError(t, err)
			require.Equal(t, tt.wantKept, keys(kept))
		})
	}
}

func TestRequeueAndPurge(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	defer st.Close()
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: deliveries("hook", "a", "b", "c")}))
	out, err := st.Outbox("hook")
	require.NoError(t, err)
	require.NoError(t, st.Postpone("hook", out[0].Seq, time.Now().Add(time.Hour), "503"))
	require.NoError(t, st.Bury("hook", out[0].Seq, "400"))
	require.NoError(t, st.Bury("hook", out[1].Seq, "400"))

	wake := st.Updated()
	n, err := st.Requeue("hook")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	requireClosed(t, wake)
	pending, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"c", "a", "b"}, keys(pending), "requeued entries go to the end")
	require.Zero(t, pending[1].Attempts)
	require.True(t, pending[1].NextAttempt.IsZero())
	require.Greater(t, pending[1].Seq, pending[0].Seq)

	require.NoError(t, st.Bury("hook", pending[0].Seq, "400"))
	n, err = st.Purge("hook")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	dead, err := st.DeadLetters("hook")
	require.NoError(t, err)
	require.Empty(t, dead)
}

func TestUpdatedWakesOnDeliveriesOnly(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir())
	defer st.Close()
	wake := st.Updated()
	require.NoError(t, st.Save(ctx, sources.Cursor{Stream: "s", Pos: "1"}))
	select {
	case <-wake:
		t.Fatal("a cursor alone must not wake the dispatcher")
	default:
	}
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: deliveries("hook", "a")}))
	requireClosed(t, wake)
	select {
	case <-st.Updated():
		t.Fatal("the next Updated channel starts open")
	default:
	}
}

func requireClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Fatal("channel not closed")
	}
}

// TestPendingCount: the count the outbox bound and the pending gauge read is kept by
// every path that queues or removes an entry, and recounted right at open.
func TestPendingCount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, dir)
	require.Zero(t, st.Len("hook"))
	require.NoError(t, st.Commit(ctx, Batch{Deliveries: append(deliveries("hook", "a", "b", "c", "d", "e"), deliveries("slack", "a")...)}))
	require.Equal(t, 5, st.Len("hook"))
	require.Equal(t, 1, st.Len("slack"))

	out, err := st.Window("hook", 3)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, keys(out), "the oldest, at most the limit")
	require.Nil(t, out[0].Incident, "without the bodies")
	skipped, err := st.WindowSkip("hook", 3, func(seq uint64) bool { return seq == out[0].Seq || seq == out[2].Seq })
	require.NoError(t, err)
	require.Equal(t, []string{"b", "d", "e"}, keys(skipped), "the skipped ones neither returned nor counted")
	filled, err := st.Fill("hook", []Entry{out[2], {Seq: 999}})
	require.NoError(t, err)
	require.Len(t, filled, 1, "an entry no longer there is left out")
	require.JSONEq(t, `{"key":"c"}`, string(filled[0].Incident))
	found, err := st.Settle("hook", []Outcome{
		{Seq: out[0].Seq, Kind: Delivered},
		{Seq: out[1].Seq, Kind: Postponed, Next: time.Now().Add(time.Minute), Err: "503"},
		{Seq: out[2].Seq, Kind: Buried, Err: "400"},
		{Seq: 999, Kind: Delivered},
	})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, false}, found)
	require.Equal(t, 3, st.Len("hook"), "one delivered, one buried, one postponed")
	pending, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"b", "d", "e"}, keys(pending))
	require.Equal(t, 1, pending[0].Attempts)

	dropped, err := st.Trim("hook", 2, 0, time.Now())
	require.NoError(t, err)
	require.Len(t, dropped, 1)
	require.Equal(t, 2, st.Len("hook"))
	n, err := st.Requeue("hook")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 3, st.Len("hook"))

	st = reopen(t, st)
	defer st.Close()
	require.Equal(t, 3, st.Len("hook"), "counted again at open")
	require.Equal(t, 1, st.Len("slack"))
}

// TestOldEntriesStillRead: entries an older release queued (one JSON object) are
// delivered, postponed and buried like new ones.
func TestOldEntriesStillRead(t *testing.T) {
	st := open(t, t.TempDir())
	defer st.Close()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	old := []byte(`{"key":"kernel/oom-kill@h","incident":{"key":"kernel/oom-kill@h","count":2},"enqueued":"2025-03-01T12:00:00Z","attempts":3,"last_error":"503"}`)
	require.NoError(t, st.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte("hook"))
		if err != nil {
			return err
		}
		return bk.Put(seqKey(7), old)
	}))
	st = reopen(t, st)
	require.Equal(t, 1, st.Len("hook"))
	es, err := st.Window("hook", 8)
	require.NoError(t, err)
	require.Equal(t, []Entry{{Seq: 7, Notifier: "hook", Key: "kernel/oom-kill@h", Enqueued: t0, Attempts: 3, LastError: "503"}}, es)
	es, err = st.Fill("hook", es)
	require.NoError(t, err)
	require.JSONEq(t, `{"key":"kernel/oom-kill@h","count":2}`, string(es[0].Incident))
	require.NoError(t, st.Postpone("hook", 7, t0.Add(time.Minute), "timeout"))
	out, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, 4, out[0].Attempts)
	require.JSONEq(t, `{"key":"kernel/oom-kill@h","count":2}`, string(out[0].Incident), "rewritten in the new form, body intact")
}

// FuzzDecodeEntry: any stored value decodes or is an error (a damaged entry is never a
// panic), and what encodeEntry writes decodes to what it was given.
func FuzzDecodeEntry(f *testing.F) {
	e := Entry{Key: "redis/bgsave-fork-enomem@db-1", Status: "firing", Incident: []byte(`{"key":"k"}`), Enqueued: time.Unix(1700000000, 0).UTC(), Attempts: 2, LastError: "503"}
	v, err := encodeEntry(e)
	require.NoError(f, err)
	f.Add(v)
	f.Add([]byte(`{"key":"k","incident":{"a":1},"enqueued":"2025-03-01T12:00:00Z"}`))
	f.Add([]byte{entryV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{entryV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeEntry("hook", seqKey(1), v, true)
		if err != nil {
			return
		}
		again, err := encodeEntry(got)
		require.NoError(t, err)
		back, err := decodeEntry("hook", seqKey(1), again, true)
		require.NoError(t, err)
		require.Equal(t, got.Key, back.Key)
		require.Equal(t, got.Status, back.Status)
		require.Equal(t, got.Attempts, back.Attempts)
		require.Equal(t, string(got.Incident), string(back.Incident))
	})
}

// TestDamagedEntrySetAside: one queued notification that cannot be read is set aside
// (kept as it was), and delivery goes on with the others.
func TestDamagedEntrySetAside(t *testing.T) {
	st := open(t, t.TempDir())
	defer st.Close()
	require.NoError(t, st.Commit(context.Background(), Batch{Deliveries: deliveries("hook", "a", "b", "c")}))
	out, err := st.Outbox("hook")
	require.NoError(t, err)
	require.NoError(t, st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Bucket([]byte("hook")).Put(seqKey(out[1].Seq), []byte(`{"key": damaged`))
	}))
	dropped, err := st.Trim("hook", 1, time.Hour, time.Now())
	require.NoError(t, err, "the bound does not stop at a damaged entry")
	require.Len(t, dropped, 1)
	es, err := st.Window("hook", 8)
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, keys(es))
	require.Equal(t, 1, st.Len("hook"))
	n, err := st.Damaged("hook")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	list, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, keys(list))
}
