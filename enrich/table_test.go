package enrich

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteTable(t *testing.T) {
	s := snapshotOf(t, fixtureCases[4]) // cgroup-v2: a process, OOM kills, a container
	s.Redis = map[string]string{"used_memory": "4294967296"}
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, s))
	path := filepath.Join("testdata", "cgroup-v2", "table.golden")
	if *update {
		require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
}

func TestWriteTableErrors(t *testing.T) {
	e, _ := fixture(t, t.TempDir())
	s := fresh(t, e)
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, s))
	require.Contains(t, b.String(), "ERRORS")
	require.Contains(t, b.String(), "meminfo")

	require.ErrorIs(t, WriteTable(failingWriter{}, s), errWrite)
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }
