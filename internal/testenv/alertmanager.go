package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// alertmanagerConfig routes every alert to a receiver that sends nothing: tests read
// alerts back through the API.
const alertmanagerConfig = `route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
`

// readyTimeout bounds how long a started Alertmanager may take to become ready.
const readyTimeout = 30 * time.Second

// Alertmanager starts a real prometheus-alertmanager on 127.0.0.1 with clustering
// off, its storage in t.TempDir() and a null receiver, waits until it is ready and
// returns its base URL ("http://127.0.0.1:PORT"). It is killed and reaped when the
// test ends. Without the binary the test is skipped (failed under CI).
func Alertmanager(t testing.TB) (url string) {
	t.Helper()
	bin := NeedBinary(t, "prometheus-alertmanager", "/usr/bin")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(alertmanagerConfig), 0o644); err != nil {
		t.Fatalf("alertmanager config: %v", err)
	}
	var lastErr error
	// The free port may be taken between FreePort and the bind: try a few.
	for attempt := 0; attempt < 3; attempt++ {
		url, err := startAlertmanager(t, bin, dir, cfg)
		if err == nil {
			return url
		}
		lastErr = err
	}
	t.Fatalf("start alertmanager: %v", lastErr)
	return ""
}

func startAlertmanager(t testing.TB, bin, dir, cfg string) (string, error) {
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	storage, err := os.MkdirTemp(dir, "data-")
	if err != nil {
		return "", err
	}
	var out lockedBuffer
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.path="+storage,
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	// exited is closed once the child is reaped; waitErr is set before.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	url := "http://" + addr
	if err := waitReady(url, exited, &waitErr); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	return url, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or the deadline.
func waitReady(url string, exited <-chan struct{}, waitErr *error) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("alertmanager exited: %w", *waitErr)
		case <-ctx.Done():
			return errors.New("alertmanager not ready in time")
		case <-tick.C:
		}
	}
}

// lockedBuffer collects a child's output, written from exec's copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
