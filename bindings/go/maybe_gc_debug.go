//go:build debug

package opentrail

import "runtime"

// maybeGC forces a collection before every C call in debug builds, so a missing
// runtime.KeepAlive shows up as a use-after-free in tests.
func maybeGC() { runtime.GC() }
