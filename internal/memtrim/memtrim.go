// Package memtrim gives back memory a long-running process holds only because it
// started: the heap's start-up peak, and the pages of its own program file that
// start-up touched (package initialisation, parsing and compiling the configuration
// and the rules, the first probes) and the idle loop will not touch again.
//
// A process's resident set counts every page of its program file it has mapped since
// it began. The kernel reads a file's pages into the cache a read-ahead window at a
// time and maps them 64 KiB at a time around each fault (fault-around, mm/memory.c),
// so one page touched costs 64 KiB of resident set: a Go program of 20 MB stays at
// most of its size resident all its life, although what it runs when idle is a few
// megabytes, and fewer still counted in the pages it touches. Trim takes the program
// file's read-only pages back (see Trim): those only this process maps leave the page
// cache, the rest leave this process, and what runs next faults its pages back in one
// at a time.
package memtrim

// Usage is the process's resident set, from /proc/self/status, in bytes.
type Usage struct {
	RSS  uint64 // VmRSS
	Anon uint64 // RssAnon: heap, stacks, the runtime's own
	File uint64 // RssFile: the program file and libraries mapped
}

// Result is what one Trim did.
type Result struct {
	Before, After Usage
	// Unmapped is how many bytes of the program file were resident in the mappings
	// trimmed, Mappings how many mappings that was.
	Unmapped uint64
	Mappings int
}
