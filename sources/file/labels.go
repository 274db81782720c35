package file

import (
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// maxDockerConfig bounds how much of a config.v2.json is read.
const maxDockerConfig = 1 << 20

// pathLabels returns the container metadata that a log's path carries: the path as
// matched (a /var/log/containers symlink) and the file it leads to (a /var/log/pods or
// Docker path). The result is empty, not nil, for a path that says nothing.
func pathLabels(matched, real, dockerRoot string) map[string]string {
	l := map[string]string{}
	for _, p := range []string{real, matched} {
		dockerLabels(l, p, dockerRoot)
		podLabels(l, p)
		containerLinkLabels(l, p)
	}
	return l
}

// dockerLabels reads <root>/<id>/<id>-json.log: the container id, and its name from
// the container's config.v2.json when readable (in dockerRoot, else beside the log).
func dockerLabels(l map[string]string, p, dockerRoot string) {
	dir := filepath.Dir(p)
	id := filepath.Base(dir)
	if !isHexID(id) || !strings.HasPrefix(filepath.Base(p), id+"-json.log") {
		return
	}
	l[sources.LabelContainerID] = id
	for _, d := range []string{filepath.Join(dockerRoot, id), dir} {
		if name, ok := dockerName(filepath.Join(d, "config.v2.json")); ok {
			l[sources.LabelContainerName] = name
			return
		}
	}
}

// dockerName reads the container name from a config.v2.json, without its leading "/".
func dockerName(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	var c struct{ Name string }
	if err := json.NewDecoder(io.LimitReader(f, maxDockerConfig)).Decode(&c); err != nil || c.Name == "" {
		return "", false
	}
	return strings.TrimPrefix(c.Name, "/"), true
}

// podLabels reads /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log (and its
// rotated names, <n>.log.<time>).
func podLabels(l map[string]string, p string) {
	base := filepath.Base(p)
	num, _, ok := strings.Cut(base, ".log")
	if !ok || num == "" || strings.Trim(num, "0123456789") != "" {
		return
	}
	container := filepath.Base(filepath.Dir(p))
	parts := strings.Split(filepath.Base(filepath.Dir(filepath.Dir(p))), "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || container == "" {
		return
	}
	l[sources.LabelNamespace], l[sources.LabelPod], l[sources.LabelPodUID], l[sources.LabelContainer] = parts[0], parts[1], parts[2], container
}

// containerLinkLabels reads /var/log/containers/<pod>_<namespace>_<container>-<id>.log.
func containerLinkLabels(l map[string]string, p string) {
	name, ok := strings.CutSuffix(filepath.Base(p), ".log")
	if !ok {
		return
	}
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return
	}
	i := strings.LastIndexByte(parts[2], '-')
	if i <= 0 || !isHexID(parts[2][i+1:]) || parts[0] == "" || parts[1] == "" {
		return
	}
	l[sources.LabelPod], l[sources.LabelNamespace], l[sources.LabelContainer] = parts[0], parts[1], parts[2][:i]
	l[sources.LabelContainerID] = parts[2][i+1:]
}

// isHexID reports whether s looks like a container id: at least 12 lower-case hex digits.
func isHexID(s string) bool {
	if len(s) < 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lineLabels returns a fresh map of a container line's labels: the path's plus
// stream. Plain lines have none; a structured record's are its own (rec) and the
// path's. tmpl caches, per stream name, the map to clone.
func lineLabels(base map[string]string, format Format, stream string, tmpl map[string]map[string]string, rec map[string]string) map[string]string {
	if format.structured() {
		return recordLabels(base, rec)
	}
	if format != FormatDocker && format != FormatCRI {
		return nil
	}
	t, ok := tmpl[stream]
	if !ok {
		t = make(map[string]string, len(base)+1)
		maps.Copy(t, base)
		t[sources.LabelStream] = stream
		if tmpl != nil {
			tmpl[stream] = t
		}
	}
	// Shared by every line of the stream: Line.Labels is read-only downstream, and a
	// copy a line would be the source's largest allocation.
	return t
}
