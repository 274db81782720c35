package inputfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "cowbell.yaml")
	require.NoError(t, os.WriteFile(ok, []byte("sources: []\n"), 0o600))
	b, err := Read(ok, 100)
	require.NoError(t, err)
	require.Equal(t, "sources: []\n", string(b))

	_, err = Read(ok, 5)
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "12 bytes, more than 5")

	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, err := Read(fifo, 100); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrNotRegular, "a FIFO with no writer is refused, not waited on")
		require.ErrorContains(t, err, "a FIFO")
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	_, err = Read("/dev/zero", 100)
	require.ErrorIs(t, err, ErrNotRegular)
	_, err = Read(dir, 100)
	require.ErrorIs(t, err, ErrNotRegular)
	_, err = Read(filepath.Join(dir, "missing"), 100)
	require.ErrorIs(t, err, os.ErrNotExist)
}
