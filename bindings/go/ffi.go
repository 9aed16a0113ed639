// Package opentrail embeds the OpenTrail audit-trail agent in a Go program through its C ABI
// (ffi/include/opentrail.h), linking the static library target/release/libopentrail_ffi.a.
//
// Build the library first, from the repository root:
//
//	cargo build --release -p opentrail-ffi
//
// To link a library from elsewhere (another CARGO_TARGET_DIR), add its folder to the search
// path: CGO_LDFLAGS=-L/path/to/target/release.
//
// # Why ptr() and runtime.KeepAlive
//
// An Agent owns a C pointer that its Close (or, as a safety net, its finalizer) frees. Go may
// consider the Agent unreachable while a C call that uses the pointer is still running, and
// run the finalizer; so every method reads the pointer through ptr() under a read lock and
// calls runtime.KeepAlive(a) after the C call. Building with -tags debug makes ptr() force a
// garbage collection, which turns a missing KeepAlive into a test failure instead of a rare
// crash.
package opentrail

/*
#cgo CFLAGS: -I${SRCDIR}/../../ffi/include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libopentrail_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <stdlib.h>
#include "opentrail.h"
*/
import "C"

// ABIVersion is the C ABI version these bindings were written for.
const ABIVersion = 1

// LibraryVersion returns the linked library's version, "opentrail-ffi/x.y.z".
func LibraryVersion() string {
	return C.GoString(C.ot_version())
}

func checkABI() error {
	if v := uint32(C.ot_abi_version()); v != ABIVersion || C.OT_ABI_VERSION != ABIVersion {
		return &Error{Status: StatusStartFailed, Message: "opentrail: library ABI version does not match the bindings"}
	}
	return nil
}
