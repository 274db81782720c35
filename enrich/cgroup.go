package enrich

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// v1NoLimit is where cgroup v1 starts reporting "no limit": the kernel writes
// PAGE_COUNTER_MAX pages in bytes (9223372036854771712 with 4 kB pages), which is
// above 2^62 on every page size.
const v1NoLimit = 1 << 62

// cgroupPath finds the memory cgroup in a /proc/<pid>/cgroup file: the v1 memory
// controller's line when there is one (hybrid hosts still account memory in v1),
// else the v2 unified line "0::/path".
func cgroupPath(file []byte) (version int, path string) {
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl == "memory" {
				return 1, parts[2]
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			version, path = 2, parts[2]
		}
	}
	return version, path
}

// cgroupDir is the directory of a memory cgroup under sys, for hierarchy version 1 or
// 2. The path may come from a log line (a kernel OOM line's task_memcg): it is cleaned
// as an absolute path first, so "/../../etc" stays below the cgroup root.
func cgroupDir(sys string, version int, path string) string {
	base := filepath.Join(sys, "fs", "cgroup")
	if version == 1 {
		base = filepath.Join(base, "memory")
	}
	return filepath.Join(base, filepath.Clean("/"+path))
}

// readCgroup reads the memory cgroup of the process whose cgroup file is pidDir/cgroup.
func readCgroup(sys, pidDir string) (facts.Cgroup, error) {
	b, err := os.ReadFile(filepath.Join(pidDir, "cgroup"))
	if err != nil {
		return facts.Cgroup{}, fmt.Errorf("read cgroup membership: %w", err)
	}
	version, path := cgroupPath(b)
	dir := cgroupDir(sys, version, path)
	if version != 0 && !dirExists(dir) && path != "/" {
		// In a container without a cgroup namespace (cgroup v1, or v2 under an older
		// runtime), /proc/self/cgroup names the host's path while the container's
		// /sys/fs/cgroup shows its own cgroup at the root: read that, not nothing.
		if root := cgroupDir(sys, version, "/"); fileExists(filepath.Join(root, limitFile(version))) {
			dir = root
		}
	}
	switch version {
	case 1:
		return readCgroupV1(dir, path)
	case 2:
		return readCgroupV2(dir, path)
	}
	return facts.Cgroup{}, errors.New("read cgroup membership: no memory cgroup listed")
}

// limitFile is the memory limit's file in a cgroup of hierarchy version v; the host's
// root cgroup has none in v2.
func limitFile(v int) string {
	if v == 1 {
		return "memory.limit_in_bytes"
	}
	return "memory.max"
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// readCgroupV2 reads a unified-hierarchy memory cgroup. The root cgroup has no
// memory.max or memory.current; missing files leave their values at no limit or zero.
func readCgroupV2(dir, path string) (facts.Cgroup, error) {
	cg := facts.Cgroup{Version: 2, Path: path, LimitBytes: -1, SwapLimit: -1}
	var errs []error
	read := func(name string, dst *int64) {
		v, err := readTrimmed(filepath.Join(dir, name)) //nolint:gosec // dir is a cgroupDir: below the cgroup root
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return
		case err != nil:
			errs = append(errs, fmt.Errorf("read %s: %w", name, err))
			return
		case v == "max":
			*dst = -1
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", name, err))
			return
		}
		*dst = n
	}
	if _, err := os.Stat(dir); err != nil {
		return cg, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	read("memory.max", &cg.LimitBytes)
	read("memory.current", &cg.UsageBytes)
	read("memory.peak", &cg.PeakBytes)
	read("memory.swap.max", &cg.SwapLimit)
	if st, err := readKeyed(filepath.Join(dir, "memory.stat")); err == nil {
		cg.InactiveFileBytes = st["inactive_file"]
	}
	if ev, err := readKeyed(filepath.Join(dir, "memory.events")); err == nil {
		cg.OOM, cg.OOMKill = ev["oom"], ev["oom_kill"]
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	cg.UsageRatio = usageRatio(cg)
	return cg, errors.Join(errs...)
}

// readCgroupV1 reads a v1 memory controller cgroup. memory.memsw.limit_in_bytes bounds
// memory plus swap, so the swap limit is the difference (no limit when either is
// unlimited or swap accounting is off).
func readCgroupV1(dir, path string) (facts.Cgroup, error) {
	cg := facts.Cgroup{Version: 1, Path: path, LimitBytes: -1, SwapLimit: -1}
	var errs []error
	read := func(name string, optional bool) int64 {
		v, err := readTrimmed(filepath.Join(dir, name)) //nolint:gosec // dir is a cgroupDir: below the cgroup root
		if err != nil {
			if !optional || !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("read %s: %w", name, err))
			}
			return -1
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", name, err))
			return -1
		}
		if n >= v1NoLimit {
			return -1
		}
		return n
	}
	if _, err := os.Stat(dir); err != nil {
		return cg, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	cg.LimitBytes = read("memory.limit_in_bytes", false)
	cg.UsageBytes = max(read("memory.usage_in_bytes", false), 0)
	cg.PeakBytes = max(read("memory.max_usage_in_bytes", false), 0)
	cg.Failcnt = max(read("memory.failcnt", false), 0)
	if memsw := read("memory.memsw.limit_in_bytes", true); memsw >= 0 && cg.LimitBytes >= 0 {
		cg.SwapLimit = memsw - cg.LimitBytes
	}
	if st, err := readKeyed(filepath.Join(dir, "memory.stat")); err == nil {
		// total_* include the descendants, as usage_in_bytes does
		cg.InactiveFileBytes = cmp.Or(st["total_inactive_file"], st["inactive_file"])
	}
	if oc, err := readKeyed(filepath.Join(dir, "memory.oom_control")); err == nil {
		cg.OOM, cg.OOMKill = oc["under_oom"], oc["oom_kill"]
	} else {
		errs = append(errs, err)
	}
	cg.UsageRatio = usageRatio(cg)
	return cg, errors.Join(errs...)
}

// readKeyed reads a flat keyed file of "name value" lines (memory.events,
// memory.oom_control).
func readKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			m[f[0]] = n
		}
	}
	return m, nil
}

func usageRatio(cg facts.Cgroup) float64 {
	if cg.LimitBytes <= 0 {
		return 0
	}
	return float64(cg.UsageBytes) / float64(cg.LimitBytes)
}

// containerMarkers are cgroup path parts that only container runtimes create.
var containerMarkers = []string{"kubepods", "docker", "containerd", "libpod", "crio", "lxc"}

// inContainer reports whether cowbell runs in a container, where host-wide vm.* cannot
// be changed: Kubernetes sets KUBERNETES_SERVICE_HOST, Docker and Podman leave a marker
// file at the root, and runtimes name their cgroups.
func inContainer(rootFS string, getenv func(string) string, cg facts.Cgroup) bool {
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	for _, f := range []string{".dockerenv", "run/.containerenv"} {
		if _, err := os.Stat(filepath.Join(rootFS, f)); err == nil {
			return true
		}
	}
	return containerPath(cg.Path)
}

// containerPath reports whether a cgroup path is a container runtime's.
func containerPath(path string) bool {
	for _, m := range containerMarkers {
		if strings.Contains(path, m) {
			return true
		}
	}
	return false
}
