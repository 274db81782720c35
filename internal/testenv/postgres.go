package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// pgBinGlob is where Debian installs PostgreSQL's server programs.
const pgBinGlob = "/usr/lib/postgresql/*/bin"

// maxSocketDir keeps the Unix socket path under the kernel's 108-byte limit; a longer
// test directory serves TCP only.
const maxSocketDir = 80

// Postgres initialises a cluster in t.TempDir() and runs PostgreSQL on 127.0.0.1 at a
// free port until stop (or t.Cleanup) shuts it down. It returns a DSN for the superuser
// "postgres", trusted on loopback. As root, the cluster belongs to the postgres user,
// since PostgreSQL refuses to run as root.
func Postgres(t testing.TB) (dsn string, stop func()) {
	t.Helper()
	initdb := NeedBinary(t, "initdb", pgBinGlob)
	// PATH may hold a link to initdb alone; its siblings are in the real directory.
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real
	}
	server := filepath.Join(filepath.Dir(initdb), "postgres")
	isReady := filepath.Join(filepath.Dir(initdb), "pg_isready")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cred := pgCredential(t, dir)

	init := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := strconv.Itoa(FreePort(t))
	sockets := dir
	if len(dir) > maxSocketDir {
		sockets = ""
	}
	cmd := exec.Command(server, "-D", data, "-h", "127.0.0.1", "-p", port, "-k", sockets,
		"-c", "fsync=off", "-c", "logging_collector=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if f, err := os.Create(filepath.Join(dir, "postgres.log")); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
		t.Cleanup(func() { f.Close() })
	}
	c := startChild(t, cmd, "postgres")
	c.log = filepath.Join(dir, "postgres.log")
	c.waitUntil(t, func() bool {
		return exec.Command(isReady, "-q", "-h", "127.0.0.1", "-p", port).Run() == nil
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port), c.stop
}

// pgCredential returns the credential PostgreSQL runs with: nil for an ordinary user,
// the postgres user's as root, after handing it dir (and letting it through the
// parent that t.TempDir made private).
func pgCredential(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Missing(t, "user postgres (the postgresql package creates it)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatalf("open test directory to postgres: %v", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("hand test directory to postgres: %v", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
