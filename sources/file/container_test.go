package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const containerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDockerJSONFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, containerID)
	path := filepath.Join(dir, containerID+"-json.log")
	writeFile(t, filepath.Join(dir, "config.v2.json"), `{"ID":"`+containerID+`","Name":"/redis-cache"}`)
	piece := strings.Repeat("p", 16384)
	writeFile(t, path, `{"log":"`+piece+`","stream":"stdout","time":"2025-01-02T03:04:05.5Z"}`+"\n"+
		`{"log":"tail\n","stream":"stdout","time":"2025-01-02T03:04:05.6Z"}`+"\n"+
		`{"log":"corrupt`+"\n"+
		`{"log":"oops\n","stream":"stderr","time":"2025-01-02T03:04:06Z"}`+"\n")
	c := testConfig(filepath.Join(root, "*", "*-json.log"))
	c.DockerRoot = root
	h := start(t, c, nil)
	lines := h.expect(piece+"tail", "oops")
	require.Equal(t, map[string]string{
		"container_id": containerID, "container_name": "redis-cache", "stream": "stdout",
	}, lines[0].Labels)
	require.Equal(t, "stderr", lines[1].Labels["stream"])
	require.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 5e8, time.UTC), lines[0].Time)
	require.InDelta(t, 1, testutil.ToFloat64(h.m.LinesSkipped.WithLabelValues("app", reasonDocker)), 0)

	// Docker rotates by renaming to <id>-json.log.1 and reopening.
	require.NoError(t, os.Rename(path, path+".1"))
	writeFile(t, path, `{"log":"after rotation\n","stream":"stdout","time":"2025-01-02T03:04:07Z"}`+"\n")
	h.expect("after rotation")
}

func TestCRIThroughContainersSymlink(t *testing.T) {
	root := t.TempDir()
	podDir := filepath.Join(root, "pods", "default_redis-0_0f1e2d3c-aaaa-bbbb-cccc-0123456789ab", "redis")
	target := filepath.Join(podDir, "0.log")
	link := filepath.Join(root, "containers", "redis-0_default_redis-"+containerID+".log")
	w := openAppend(t, mkdirFor(t, target))
	write(t, w, "2025-01-02T03:04:05Z stdout P Can't save in background: \n"+
		"2025-01-02T03:04:05.1Z stdout F fork: Cannot allocate memory\n")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))

	c := testConfig(filepath.Join(root, "containers", "*.log"))
	c.FollowRoots = []string{filepath.Join(root, "pods")}
	h := start(t, c, nil)
	lines := h.expect("Can't save in background: fork: Cannot allocate memory")
	require.Equal(t, link, lines[0].Stream)
	require.Equal(t, map[string]string{
		"namespace": "default", "pod": "redis-0", "pod_uid": "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab",
		"container": "redis", "container_id": containerID, "stream": "stdout",
	}, lines[0].Labels)
	require.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), lines[0].Time)

	// kubelet rotation: rename, a late line from the runtime into the renamed file,
	// then the runtime reopens 0.log; the symlink keeps its target path.
	require.NoError(t, os.Rename(target, target+".20250102-030405"))
	w2 := openAppend(t, target)
	write(t, w2, "2025-01-02T03:04:07Z stderr F new file\n")
	h.expect("new file")
	write(t, w, "2025-01-02T03:04:06Z stdout F late line\n")
	lines = h.expect("late line")
	require.Equal(t, link, lines[0].Stream)
	require.Equal(t, "redis-0", lines[0].Labels["pod"])
}

func TestPathLabels(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       map[string]string
	}{
		{"plain", "/var/log/redis/redis-server.log", map[string]string{}},
		{"pods rotated", "/var/log/pods/kube-system_coredns-abc_1234/coredns/3.log.20250102-030405",
			map[string]string{"namespace": "kube-system", "pod": "coredns-abc", "pod_uid": "1234", "container": "coredns"}},
		{"pods, not a log name", "/var/log/pods/a_b_c/d/x.log", map[string]string{}},
		{"containers link", "/var/log/containers/web-1_prod_nginx-" + containerID + ".log",
			map[string]string{"namespace": "prod", "pod": "web-1", "container": "nginx", "container_id": containerID}},
		{"containers, short id", "/var/log/containers/web-1_prod_nginx-abc.log", map[string]string{}},
		{"docker, no config", "/nowhere/" + containerID + "/" + containerID + "-json.log",
			map[string]string{"container_id": containerID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, pathLabels(tc.path, tc.path, "/nonexistent"))
		})
	}
}

func mkdirFor(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	return path
}

// TestRestartMidJoin stops a source while one stream's long line is half joined and
// the other stream's line, written between its pieces, was sent: the restart joins
// the long line whole from its first piece and does not send the other line again.
func TestRestartMidJoin(t *testing.T) {
	docker := func(stream, log string, partial bool) string {
		if !partial {
			log += `\n`
		}
		return `{"log":"` + log + `","stream":"` + stream + `","time":"2025-01-02T03:04:05Z"}` + "\n"
	}
	cri := func(stream, log string, partial bool) string {
		tag := "F"
		if partial {
			tag = "P"
		}
		return "2025-01-02T03:04:05Z " + stream + " " + tag + " " + log + "\n"
	}
	for name, rec := range map[string]func(stream, log string, partial bool) string{"docker": docker, "cri": cri} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			w := openAppend(t, path)
			write(t, w, rec("stdout", "before", false))
			h := start(t, testConfig(path), nil)
			h.expect("before")
			write(t, w, rec("stdout", "Can't save in background: ", true)+rec("stderr", "an error between the pieces", false))
			h.expect("an error between the pieces")
			h.settle() // the first piece is read and held
			h.stop()

			write(t, w, rec("stdout", "fork: Cannot allocate memory", false)+rec("stderr", "after", false))
			h2 := start(t, testConfig(path), h.cp)
			lines := h2.expect("Can't save in background: fork: Cannot allocate memory", "after")
			require.Equal(t, "stdout", lines[0].Labels["stream"])

			// The cursor after the joined line is a plain offset again: a third
			// start sends nothing old.
			h2.stop()
			write(t, w, rec("stdout", "last", false))
			h3 := start(t, testConfig(path), h2.cp)
			h3.expect("last")
		})
	}
}

// containerRecords are the two container log formats, by name.
var containerRecords = map[string]func(stream, log string, partial bool) string{
	"docker": func(stream, log string, partial bool) string {
		if !partial {
			log += `\n`
		}
		return `{"log":"` + log + `","stream":"` + stream + `","time":"2025-01-02T03:04:05Z"}` + "\n"
	},
	"cri": func(stream, log string, partial bool) string {
		tag := "F"
		if partial {
			tag = "P"
		}
		return "2025-01-02T03:04:05Z " + stream + " " + tag + " " + log + "\n"
	},
}

// TestLineSplitByRotation: the runtime wrote the first piece of a long line (a CRI P
// record, a Docker log without its newline), the log was rotated, and the rest went
// to the new file. The pieces are joined into one line, while cowbell runs and when
// the rotation happened while it was stopped; another stream's line in between is
// sent once.
func TestLineSplitByRotation(t *testing.T) {
	for name, rec := range containerRecords {
		for _, stopped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stopped=%v", name, stopped), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "0.log")
				w := openAppend(t, path)
				write(t, w, rec("stdout", "before", false))
				h := start(t, testConfig(path), nil)
				h.expect("before")
				if stopped {
					h.stop()
				}
				write(t, w, rec("stdout", "Can't save in background: ", true)+rec("stderr", "an error beside it", false))
				require.NoError(t, os.Rename(path, path+".20250102-030405"))
				w2 := openAppend(t, path)
				write(t, w2, rec("stdout", "fork: ", true)+rec("stdout", "Cannot allocate memory", false)+rec("stdout", "after", false))
				if stopped {
					h = start(t, testConfig(path), h.cp)
				}
				lines := h.expect("an error beside it", "Can't save in background: fork: Cannot allocate memory", "after")
				require.Equal(t, "stdout", lines[1].Labels["stream"])
				h.settle()

				// Stopped now, the cursor resumes after the joined line: nothing again.
				h.stop()
				write(t, w2, rec("stdout", "last", false))
				h2 := start(t, testConfig(path), h.cp)
				h2.expect("last")
				h2.settle()
			})
		}
	}
}

// TestRestartInLineSplitByRotation: cowbell stops after it read the first piece, in
// the rotated file, of a line whose rest is in the new file and not written yet. After
// the restart the line is joined whole from its first piece.
func TestRestartInLineSplitByRotation(t *testing.T) {
	for name, rec := range containerRecords {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "0.log")
			w := openAppend(t, path)
			write(t, w, rec("stdout", "before", false)+rec("stdout", "Can't save in background: ", true))
			h := start(t, testConfig(path), nil)
			h.expect("before")
			require.NoError(t, os.Rename(path, path+".20250102-030405"))
			w2 := openAppend(t, path)
			write(t, w2, rec("stderr", "an error in the new file", false))
			h.expect("an error in the new file")
			h.settle() // the first piece is carried to the new file, waiting for the rest
			h.stop()

			write(t, w2, rec("stdout", "fork: Cannot allocate memory", false))
			h2 := start(t, testConfig(path), h.cp)
			h2.expect("Can't save in background: fork: Cannot allocate memory")
			h2.settle()
		})
	}
}
