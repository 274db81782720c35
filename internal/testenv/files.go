package testenv

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// AppendFile appends s to the file at path, creating it, as a logging program would.
func AppendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// GzipFile compresses path to path.gz and removes path, as kubelet and logrotate's
// compress do; the compressed file's time is when it was compressed.
func GzipFile(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".gz", gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// PrivateFilesystem mounts a small ext4 filesystem of t's own (a loop-mounted image
// in a temporary directory) and returns its root, unmounted at cleanup. On it, what
// the allocator hands out depends on t alone: a freed inode goes to the next file t
// creates, where on a shared /tmp a file of another test running at the same time
// may take it first. It needs root and mkfs.ext4 (e2fsprogs).
func PrivateFilesystem(t testing.TB) string {
	t.Helper()
	NeedRoot(t)
	mkfs := NeedBinary(t, "mkfs.ext4", "/sbin", "/usr/sbin")
	image := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	root := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", image, root).CombinedOutput(); err != nil {
		Missing(t, "a loop-mounted filesystem (mount -o loop): %v: %s", err, bytes.TrimSpace(out))
	}
	// Registered after both temporary directories: it runs before they are removed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", root).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", root, err, out)
			_ = exec.Command("umount", "-l", root).Run()
		}
	})
	return root
}
