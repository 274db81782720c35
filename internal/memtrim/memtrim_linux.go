package memtrim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim returns the heap's free pages to the kernel (a collection, then
// debug.FreeOSMemory) and gives back the program file's read-only pages (see the
// package comment). For each private, read-only mapping of the program file that
// holds no private copy of any page, in this order:
//
//   - madvise(MADV_RANDOM): from now on a fault reads the page it needs, not the
//     read-ahead window around it (128 KiB to megabytes), so fault-around, which maps
//     the cached pages of the 64 KiB about a fault, finds only the pages that were
//     used;
//   - madvise(MADV_PAGEOUT) (Linux 5.4; skipped where the kernel refuses it): the
//     pages no other process maps leave the page cache, clean, so the memory is the
//     host's again, not only out of this process's count;
//   - madvise(MADV_DONTNEED): what is left (pages other processes running the same
//     file map too) is unmapped from this process and stays in the cache.
//
// Nothing is lost: a clean file page faults back in unchanged (from the cache, or
// read from the file).
func Trim() (Result, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Result{}, fmt.Errorf("memtrim: %w", err)
	}
	return trim(exe)
}

// trim is Trim of the mappings of path.
func trim(path string) (Result, error) {
	var r Result
	var err error
	if r.Before, err = ReadUsage(); err != nil {
		return r, err
	}
	debug.FreeOSMemory()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return r, fmt.Errorf("memtrim: %w", err)
	}
	for _, m := range Trimmable(smaps, path) {
		if err := madvise(m, unix.MADV_RANDOM); err != nil {
			return r, err
		}
		if err := madvise(m, unix.MADV_PAGEOUT); err != nil && !errors.Is(err, unix.EINVAL) {
			return r, err
		}
		if err := madvise(m, unix.MADV_DONTNEED); err != nil {
			return r, err
		}
		r.Unmapped += m.Rss
		r.Mappings++
	}
	r.After, err = ReadUsage()
	return r, err
}

// madvise advises the kernel about m. The range is an address the kernel gave, not
// memory Go manages: the raw call takes it as it is.
func madvise(m Mapping, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.Start), uintptr(m.End-m.Start), uintptr(advice)); errno != 0 {
		return fmt.Errorf("memtrim: madvise(%#x-%#x, %d): %w", m.Start, m.End, advice, errno)
	}
	return nil
}

// Mapping is one mapping of /proc/self/smaps that Trimmable chose.
type Mapping struct {
	Start, End uint64 // addresses
	Rss        uint64 // bytes resident
}

// Trimmable is the mappings of smaps (the text of /proc/PID/smaps) that Trim unmaps:
// those of the file path (the program, as /proc/self/exe names it: a program replaced
// on disk keeps its " (deleted)" suffix in both), private and not writable, with pages
// resident and none of them a private (anonymous) copy. A read-only mapping can hold
// private copies: the dynamic linker's relocated data (RELRO) is written before it is
// made read-only, and a debugger's breakpoints are written through ptrace. Unmapping
// such a page would lose what was written, so any such mapping is left whole.
func Trimmable(smaps []byte, path string) []Mapping {
	var out []Mapping
	var cur Mapping
	var mine, anon, haveAnon bool
	done := func() {
		if mine && haveAnon && !anon && cur.Rss > 0 {
			out = append(out, cur)
		}
		mine, anon, haveAnon = false, false, false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m, perms, name, ok := header(line); ok {
			done()
			cur = m
			mine = name == path && len(perms) == 4 && perms[0] == 'r' && perms[1] != 'w' && perms[3] == 'p'
			continue
		}
		if !mine {
			continue
		}
		key, kb, ok := field(line)
		switch {
		case !ok:
		case key == "Rss":
			cur.Rss = kb << 10
		case key == "Anonymous":
			haveAnon, anon = true, kb != 0
		}
	}
	done()
	return out
}

// header parses a mapping's first line: "start-end perms offset dev inode [path]".
func header(line string) (m Mapping, perms, path string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return m, "", "", false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return m, "", "", false
	}
	var err1, err2 error
	m.Start, err1 = strconv.ParseUint(lo, 16, 64)
	m.End, err2 = strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || m.End <= m.Start {
		return m, "", "", false
	}
	// The path is the rest of the line after the fifth field (the inode), spaces
	// included.
	rest := line
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	return m, f[1], strings.TrimLeft(rest, " "), true
}

// field parses "Key:   123 kB".
func field(line string) (key string, kb uint64, ok bool) {
	key, rest, found := strings.Cut(line, ":")
	if !found {
		return "", 0, false
	}
	f := strings.Fields(rest)
	if len(f) != 2 || f[1] != "kB" {
		return "", 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	return key, n, err == nil
}

// ReadUsage reads the process's resident set from /proc/self/status.
func ReadUsage() (Usage, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Usage{}, fmt.Errorf("memtrim: %w", err)
	}
	var u Usage
	for _, line := range strings.Split(string(b), "\n") {
		key, kb, ok := field(line)
		switch {
		case !ok:
		case key == "VmRSS":
			u.RSS = kb << 10
		case key == "RssAnon":
			u.Anon = kb << 10
		case key == "RssFile":
			u.File = kb << 10
		}
	}
	return u, nil
}
