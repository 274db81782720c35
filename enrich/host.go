package enrich

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// readErrors collects the reads that failed while one snapshot was taken.
type readErrors []facts.ReadError

func (r *readErrors) add(what string, err error) {
	*r = append(*r, facts.ReadError{What: what, Err: err.Error()})
}

// readTrimmed reads a small file and trims surrounding white space.
func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a file under the configured /proc or /sys root
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// readVM reads every file under <proc>/sys/vm: a single integer goes to vm, anything
// else (lowmem_reserve_ratio's list, numa_zonelist_order's word) to text. Write-only
// knobs (drop_caches, compact_memory) and files we may not read are skipped: they say
// nothing about memory trouble.
func readVM(proc string, errs *readErrors) (vm map[string]int64, text map[string]string) {
	dir := filepath.Join(proc, "sys", "vm")
	entries, err := os.ReadDir(dir)
	if err != nil {
		errs.add("vm", fmt.Errorf("list vm sysctls: %w", err))
		return nil, nil
	}
	vm, text = map[string]int64{}, map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm()&0o444 == 0 {
			continue
		}
		v, err := readTrimmed(filepath.Join(dir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrPermission):
			continue
		case err != nil:
			errs.add("vm/"+e.Name(), fmt.Errorf("read vm.%s: %w", e.Name(), err))
			continue
		case v == "":
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			vm[e.Name()] = n
		} else {
			text[e.Name()] = v
		}
	}
	return vm, text
}

// readMeminfo parses /proc/meminfo, keeping the kernel's names and units (kB, or a
// count for HugePages_*).
func readMeminfo(proc string) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join(proc, "meminfo"))
	if err != nil {
		return nil, fmt.Errorf("read meminfo: %w", err)
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse meminfo %s: %w", name, err)
		}
		m[name] = n
	}
	if len(m) == 0 {
		return nil, errors.New("parse meminfo: no fields")
	}
	return m, nil
}

// gib is 1 GiB in kB.
const gib = 1 << 20

// deriveCommit computes the commit accounting figures from meminfo and vm.
func deriveCommit(vm, mem map[string]int64) facts.Commit {
	c := facts.Commit{
		Mode:        vm["overcommit_memory"],
		CommittedKB: mem["Committed_AS"],
		LimitKB:     mem["CommitLimit"],
	}
	if c.LimitKB > 0 {
		c.Ratio = float64(c.CommittedKB) / float64(c.LimitKB)
	}
	c.HeadroomKB = c.LimitKB - c.CommittedKB
	// Hugetlb counts every hugepage size (1 GiB pages too), which is what the kernel's
	// hugetlb_total_pages() subtracts; older kernels only report the default size.
	c.HugepagesKB = mem["HugePages_Total"] * mem["Hugepagesize"]
	if h, ok := mem["Hugetlb"]; ok {
		c.HugepagesKB = h
	}
	c.UsableKB = mem["MemTotal"] - c.HugepagesKB
	// mm/util.c vm_commit_limit: overcommit_kbytes when set, else the ratio of RAM
	// outside hugepages; swap is added either way.
	if kb := vm["overcommit_kbytes"]; kb > 0 {
		c.Mode2LimitKB = kb + mem["SwapTotal"]
	} else {
		c.Mode2LimitKB = c.UsableKB*vm["overcommit_ratio"]/100 + mem["SwapTotal"]
	}
	c.RecommendedKbytes = baselineKbytes(c.UsableKB)
	return c
}

// baselineKbytes is the strict-mode baseline: 80 % of usable memory for userspace,
// the rest for the kernel's own structures and the page cache, plus an allowance for
// address space that sidecars reserve and never touch. The allowance is 2 GiB, but at
// most a tenth of usable memory: 0.8 × usable + 2 GiB exceeds RAM below 10 GiB, where
// strict mode would then keep nothing away, so the baseline stays at or under 90 % of
// usable memory.
func baselineKbytes(usableKB int64) int64 {
	if usableKB <= 0 {
		return 0
	}
	return usableKB*8/10 + min(2*gib, usableKB/10)
}

// leakSuspected reports the Linux 6.5 Committed_AS leak in one reading: on 6.5,
// mremap's move_vma() charged commit again for every successful move (408579cd627a,
// fixed by 3cec50490969 in 6.6 and 6.5.4), so Committed_AS climbs without bound; a
// reading of LeakFactor or more times RAM + swap is beyond anything real workloads
// commit. Distribution kernels keep their patch level at 0, so every 6.5 counts.
func leakSuspected(k facts.Kernel, mem map[string]int64) bool {
	if k.Major != 6 || k.Minor != 5 {
		return false
	}
	total := mem["MemTotal"] + mem["SwapTotal"]
	return total > 0 && mem["Committed_AS"] >= facts.LeakFactor*total
}

// readKernel reads the kernel release and parses its major and minor numbers.
func readKernel(proc string) (facts.Kernel, error) {
	rel, err := readTrimmed(filepath.Join(proc, "sys", "kernel", "osrelease"))
	if err != nil {
		return facts.Kernel{}, fmt.Errorf("read kernel release: %w", err)
	}
	k := facts.Kernel{Release: rel}
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return k, fmt.Errorf("parse kernel release %q: no minor version", rel)
	}
	k.Major, err = strconv.Atoi(parts[0])
	if err != nil {
		return k, fmt.Errorf("parse kernel release %q: %w", rel, err)
	}
	k.Minor, err = strconv.Atoi(leadingDigits(parts[1]))
	if err != nil {
		return k, fmt.Errorf("parse kernel release %q: %w", rel, err)
	}
	if len(parts) == 3 {
		k.Patch, _ = strconv.Atoi(leadingDigits(parts[2])) // "0-44-generic" → 0; none → 0
	}
	return k, nil
}

// leadingDigits returns the digits s starts with ("5-rc1" → "5").
func leadingDigits(s string) string {
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		return s[:i]
	}
	return s
}

// readTHP reads the selected value ("[madvise]") of transparent hugepages' enabled and
// defrag files.
func readTHP(sys string, errs *readErrors) facts.THP {
	dir := filepath.Join(sys, "kernel", "mm", "transparent_hugepage")
	var t facts.THP
	for _, f := range []struct {
		name string
		dst  *string
	}{{"enabled", &t.Enabled}, {"defrag", &t.Defrag}} {
		v, err := readTrimmed(filepath.Join(dir, f.name))
		if err != nil {
			errs.add("thp", fmt.Errorf("read transparent_hugepage/%s: %w", f.name, err))
			continue
		}
		*f.dst = selected(v)
	}
	return t
}

// selected returns the bracketed choice of a sysfs list ("always [madvise] never").
func selected(v string) string {
	if i := strings.IndexByte(v, '['); i >= 0 {
		if j := strings.IndexByte(v[i:], ']'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return v
}

// readIdentity reads the node's machine id, boot id and host name. The machine id lives
// in <etc>/machine-id, or in var/lib/dbus/machine-id beside <etc> on older systems; the
// boot id is not a fallback for it (it changes every boot).
func readIdentity(c *Config, s *facts.Snapshot, errs *readErrors) {
	id, err := readTrimmed(filepath.Join(c.Etc, "machine-id"))
	if err != nil || id == "" {
		alt := filepath.Join(c.Etc, "..", "var", "lib", "dbus", "machine-id")
		if id, err = readTrimmed(alt); err != nil || id == "" {
			if err == nil {
				err = errors.New("empty")
			}
			errs.add("machine_id", fmt.Errorf("read machine id: %w", err))
		}
	}
	s.MachineID = id
	if s.BootID, err = readTrimmed(filepath.Join(c.Proc, "sys", "kernel", "random", "boot_id")); err != nil {
		errs.add("boot_id", fmt.Errorf("read boot id: %w", err))
	}
	if s.Host, err = readTrimmed(filepath.Join(c.Proc, "sys", "kernel", "hostname")); err != nil {
		errs.add("host", fmt.Errorf("read host name: %w", err))
	}
}
