package testenv

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a component may take to answer after it starts.
const startTimeout = 30 * time.Second

// Redis starts redis-server on 127.0.0.1 at a free port, without persistence, in a
// directory under t.TempDir(), and waits until it answers PING. stop shuts it down
// (tests use it to see a Redis that no longer answers); t.Cleanup calls it too.
func Redis(t testing.TB) (addr string, stop func()) {
	t.Helper()
	bin := NeedBinary(t, "redis-server")
	dir := t.TempDir()
	port := FreePort(t)
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	c := startChild(t, cmd, "redis-server")
	c.log = filepath.Join(dir, "redis.log")
	c.waitUntil(t, func() bool { return redisPing(addr) })
	return addr, c.stop
}

// redisPing reports whether a Redis at addr answers PING with PONG.
func redisPing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// child is a component process started by a test.
type child struct {
	name string
	log  string // the component's log file, quoted when it fails to start
	stop func()
	done <-chan struct{} // closed once the process has exited and been reaped
}

// startChild starts cmd; its stop terminates the process and waits for it to exit, and
// t.Cleanup calls stop as well, so nothing outlives the test.
func startChild(t testing.TB, cmd *exec.Cmd, name string) child {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(startTimeout):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	return child{name: name, stop: stop, done: done}
}

// waitUntil polls ready until it holds, failing the test when the child exits first
// or startTimeout passes.
func (c child) waitUntil(t testing.TB, ready func() bool) {
	t.Helper()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-c.done:
			t.Fatalf("%s exited before it was ready%s", c.name, c.tail())
		case <-deadline.C:
			c.stop()
			t.Fatalf("%s did not become ready within %v%s", c.name, startTimeout, c.tail())
		case <-tick.C:
		}
	}
}

// tail returns the end of the child's log, for a failure message.
func (c child) tail() string {
	b, err := os.ReadFile(c.log)
	if err != nil || c.log == "" {
		return ""
	}
	return "; log:\n" + string(b[max(0, len(b)-2048):])
}
