package validate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the cowbell binary the tests build once (TestMain removes it).
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cowbellBinary builds cowbell once, as make test's second build does
// (scripts/build.sh, CGO_ENABLED=0), so the packages come from Go's build cache.
func cowbellBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "cowbell-validate-")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "cowbell")
		build := exec.Command("./scripts/build.sh", binPath)
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "VERSION=validate-test")
		if out, err := build.CombinedOutput(); err != nil {
			binError = fmt.Errorf("scripts/build.sh: %w\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// lockedBuffer collects a child's output, written and read from different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
