package memtrim

import "unsafe"

// addr is where a mapping starts.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
