package memtrim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const smapsText = `00400000-00402000 r--p 00000000 fd:00 1234 /usr/local/bin/cowbell
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
00402000-00da9000 r-xp 00002000 fd:00 1234 /usr/local/bin/cowbell
Size:               9884 kB
Rss:                7236 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
00da9000-01937000 r--p 009a9000 fd:00 1234 /usr/local/bin/cowbell
Size:              11832 kB
Rss:                   0 kB
Anonymous:             0 kB
01937000-01938000 r--p 01536000 fd:00 1234 /usr/local/bin/cowbell
Size:                  4 kB
Rss:                   4 kB
Anonymous:             4 kB
01938000-019d1000 rw-p 01537000 fd:00 1234 /usr/local/bin/cowbell
Size:                612 kB
Rss:                 488 kB
Anonymous:           116 kB
019d1000-03a18000 rw-p 00000000 00:00 0
Size:              33052 kB
Rss:                 116 kB
Anonymous:           116 kB
7f4c30508000-7f4c306fc000 r-xp 00028000 fd:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               2000 kB
Rss:                1400 kB
Anonymous:             0 kB
7f4c40000000-7f4c40010000 r-xp 00000000 fd:00 77 /opt/my app/cowbell (deleted)
Size:                 64 kB
Rss:                  64 kB
Anonymous:             0 kB
7f4c40010000-7f4c40020000 r--s 00000000 fd:00 77 /opt/my app/cowbell (deleted)
Size:                 64 kB
Rss:                  64 kB
Anonymous:             0 kB
`

func TestTrimmableChoosesCleanReadOnlyMappingsOfThePath(t *testing.T) {
	got := Trimmable([]byte(smapsText), "/usr/local/bin/cowbell")
	want := []Mapping{
		{Start: 0x400000, End: 0x402000, Rss: 8 << 10},
		{Start: 0x402000, End: 0xda9000, Rss: 7236 << 10},
	}
	if len(got) != len(want) {
		t.Fatalf("Trimmable = %+v, want %+v (not: nothing resident, the RELRO page with its private copy, the writable data, another file)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A path with a space, replaced on disk: the private mapping only (r--s is shared).
	got = Trimmable([]byte(smapsText), "/opt/my app/cowbell (deleted)")
	if len(got) != 1 || got[0].Start != 0x7f4c40000000 {
		t.Errorf("Trimmable of a deleted program with a space = %+v, want the one private mapping at 7f4c40000000", got)
	}
	// A mapping whose block lacks the Anonymous line is not known to be clean.
	noAnon := strings.ReplaceAll(smapsText, "Anonymous:             0 kB\n", "")
	if got := Trimmable([]byte(noAnon), "/usr/local/bin/cowbell"); len(got) != 0 {
		t.Errorf("without Anonymous lines Trimmable = %+v, want none", got)
	}
}

// resident is how many bytes of the mapping at addr smaps says are resident, and
// whether it found it.
func resident(t *testing.T, addr uintptr) (uint64, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var in bool
	for _, line := range strings.Split(string(b), "\n") {
		if m, _, _, ok := header(line); ok {
			in = m.Start == uint64(addr)
			continue
		}
		if key, kb, ok := field(line); in && ok && key == "Rss" {
			return kb << 10, true
		}
	}
	return 0, false
}

// The real kernel: a clean private read-only mapping of a file loses its resident
// pages, which leave the page cache, and still reads the file; a mapping of the same file that holds a private
// copy of a page (written, then made read-only, as the dynamic linker does with
// RELRO) is left whole, the written byte kept.
func TestTrimUnmapsCleanPagesAndKeepsPrivateCopies(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "program")
	content := bytes.Repeat([]byte("cowbell."), size/8)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	syncFile(t, path) // a program file's pages are clean and were read from it
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clean, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Munmap(clean) }()
	var sum int
	for i := 0; i < size; i += 4096 {
		sum += int(clean[i])
	}
	fw, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	copied, err := unix.Mmap(int(fw.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Munmap(copied) }()
	copied[0] = 'C'
	if err := unix.Mprotect(copied, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}

	cleanAddr, copiedAddr := addr(clean), addr(copied)
	before, ok := resident(t, cleanAddr)
	if !ok || before < size/2 {
		t.Fatalf("the clean mapping has %d bytes resident before the trim (found %v), want most of %d", before, ok, size)
	}
	r, err := trim(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mappings != 1 || r.Unmapped != before {
		t.Errorf("trim = %+v, want one mapping and %d bytes unmapped", r, before)
	}
	if after, _ := resident(t, cleanAddr); after != 0 {
		t.Errorf("the clean mapping has %d bytes resident after the trim, want 0", after)
	}
	// Only this process mapped them: they left the page cache too (MADV_PAGEOUT).
	// Only this process mapped them: they left the page cache too (MADV_PAGEOUT).
	if cached := cachedPages(t, f, size); cached > size/4096/2 {
		t.Errorf("%d of the file's %d pages are still in the page cache after the trim, want under half", cached, size/4096)
	}
	// One page read after the trim maps that page, not the 64 KiB of fault-around
	// read ahead into the cache (MADV_RANDOM).
	sum += int(clean[100*4096])
	if got, _ := resident(t, cleanAddr); got > 2*4096 {
		t.Errorf("one page read after the trim made %d bytes resident, want one page", got)
	}
	if after, _ := resident(t, copiedAddr); after == 0 {
		t.Error("the mapping with a private copy lost its pages")
	}
	if copied[0] != 'C' {
		t.Errorf("the private copy reads %q after the trim, want the byte written, C", copied[0])
	}
	if !bytes.Equal(clean, content) {
		t.Error("the clean mapping reads differently after the trim")
	}
	if sum == 0 {
		t.Fatal("the touch loop read nothing")
	}
}

// Trim on this test binary: its program file's resident pages go, and it goes on
// running from them.
func TestTrimProgram(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var before uint64
	for _, m := range Trimmable(smaps, exe) {
		before += m.Rss
	}
	if before == 0 {
		t.Fatal("none of the test binary's pages are resident: nothing to trim")
	}
	r, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if r.Mappings == 0 || r.Unmapped == 0 {
		t.Fatalf("Trim = %+v, want the program's mappings unmapped", r)
	}
	smaps, err = os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var after uint64
	for _, m := range Trimmable(smaps, exe) {
		after += m.Rss
	}
	// What ran since (reading smaps, the test itself) maps some pages back.
	if after >= before/2 {
		t.Errorf("the program's resident pages went from %d to %d bytes, want under half", before, after)
	}
	if r.Before.RSS == 0 || r.After.RSS == 0 || r.After.File >= r.Before.File {
		t.Errorf("usage before %+v, after %+v: want the file part to fall", r.Before, r.After)
	}
}

// syncFile writes path's pages to the disk and drops them from the page cache.
func syncFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Out of the cache: mapped and touched, the pages come from the file, as a
	// program's do.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// cachedPages is how many of the first size bytes' pages of f are in the page cache
// (mincore(2) of a fresh mapping, which touches none of them).
func cachedPages(t *testing.T, f *os.File, size int) int {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Munmap(m) }()
	vec := make([]byte, (size+4095)/4096)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)), uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
