package opentrail

/*
#include <stdlib.h>
#include "opentrail.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// flushSlice bounds one C flush call when the context can be cancelled, so cancellation is
// noticed within about this long.
const flushSlice = time.Second

// Agent is an OpenTrail agent running in this process. All methods are safe for concurrent use.
type Agent struct {
	mu     sync.RWMutex // read: any C call; write: freeing the handle
	_ptr   *C.ot_agent
	final  Stats
	once   sync.Once
	result error
}

// New parses configTOML (the agent's TOML configuration; relative paths resolve against the
// current directory) and starts an agent. Errors match ErrConfig for a bad configuration.
func New(configTOML string) (*Agent, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	ctext := C.CString(configTOML)
	defer C.free(unsafe.Pointer(ctext))
	var ptr *C.ot_agent
	var cerr *C.ot_error
	if st := C.ot_agent_new(ctext, &ptr, &cerr); st != C.OT_STATUS_OK {
		return nil, errorFrom(st, cerr)
	}
	a := &Agent{_ptr: ptr}
	// Safety net only: Close is the way to release an agent (it drains and unlocks data_dir).
	runtime.SetFinalizer(a, func(a *Agent) { _ = a.Close() })
	return a, nil
}

// ptr returns the handle; the caller holds a.mu.RLock and calls runtime.KeepAlive(a) after
// the C call.
func (a *Agent) ptr() *C.ot_agent {
	maybeGC()
	return a._ptr
}

func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// Submit validates and takes one CloudTrail record (a JSON object). A refused record returns
// an error matching ErrInvalidRecord; after Close, ErrClosed; a full memory budget, ErrBusy.
func (a *Agent) Submit(record []byte) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a._ptr == nil {
		return closedError()
	}
	var cerr *C.ot_error
	st := C.ot_agent_submit(a.ptr(), bytesPtr(record), C.size_t(len(record)), &cerr)
	runtime.KeepAlive(record)
	runtime.KeepAlive(a)
	return errorFrom(st, cerr)
}

// SubmitBatch submits JSON lines (one record per line). Each line is judged alone: valid lines
// are taken even when others are refused. It returns how many were accepted and, when any
// line was refused, an error matching ErrInvalidRecord that names the first refused lines.
func (a *Agent) SubmitBatch(jsonLines []byte) (accepted int, err error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a._ptr == nil {
		return 0, closedError()
	}
	var n C.size_t
	var cerr *C.ot_error
	st := C.ot_agent_submit_batch(a.ptr(), bytesPtr(jsonLines), C.size_t(len(jsonLines)), &n, &cerr)
	runtime.KeepAlive(jsonLines)
	runtime.KeepAlive(a)
	return int(n), errorFrom(st, cerr)
}

// Flush cuts every open log file and returns once every record submitted before the call is
// delivered. It gives up when ctx is done (returning an error that wraps ctx.Err()); an error
// matching ErrDestination means the destination was failing meanwhile.
func (a *Agent) Flush(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("opentrail: flush: %w", err)
		}
		timeout := uint32(C.OT_TIMEOUT_DEFAULT)
		if ctx.Done() != nil {
			slice := flushSlice
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < slice {
				slice = max(time.Until(deadline), 0)
			}
			timeout = uint32(slice.Milliseconds())
		}
		err := a.flushOnce(timeout)
		if err == nil {
			return nil
		}
		if e, ok := err.(*Error); ok && e.Status == StatusTimeout && ctx.Done() != nil {
			continue // slice over: check ctx, then go on waiting
		}
		return err
	}
}

func (a *Agent) flushOnce(timeoutMs uint32) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a._ptr == nil {
		return closedError()
	}
	var cerr *C.ot_error
	st := C.ot_agent_flush(a.ptr(), C.uint32_t(timeoutMs), &cerr)
	runtime.KeepAlive(a)
	return errorFrom(st, cerr)
}

// Stats returns the agent's counters; after Close, their final values.
func (a *Agent) Stats() (Stats, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a._ptr == nil {
		return a.final, nil
	}
	var s C.ot_stats
	st := C.ot_agent_stats(a.ptr(), &s)
	runtime.KeepAlive(a)
	if err := errorFrom(st, nil); err != nil {
		return Stats{}, err
	}
	return statsFrom(&s), nil
}

// Close stops taking records, delivers everything taken (waiting up to the configured
// shutdown_grace_secs) and frees the agent. It is idempotent: later calls return nil. An error
// (ErrTimeout, ErrDestination) means not everything was delivered in time; the rest stays in
// data_dir for the next agent. The agent is closed either way.
func (a *Agent) Close() error {
	first := false
	a.once.Do(func() {
		first = true
		a.result = a.close()
	})
	if first {
		return a.result
	}
	return nil
}

func (a *Agent) close() error {
	// Shut down under the read lock: calls in flight on other goroutines finish (with
	// ErrClosed once shutdown has begun) while it drains.
	a.mu.RLock()
	var cerr *C.ot_error
	st := C.ot_agent_shutdown(a.ptr(), C.OT_TIMEOUT_DEFAULT, &cerr)
	runtime.KeepAlive(a)
	a.mu.RUnlock()
	err := errorFrom(st, cerr)

	a.mu.Lock()
	defer a.mu.Unlock()
	var s C.ot_stats
	if C.ot_agent_stats(a._ptr, &s) == C.OT_STATUS_OK {
		a.final = statsFrom(&s)
	}
	C.ot_agent_free(a._ptr)
	a._ptr = nil
	runtime.SetFinalizer(a, nil)
	return err
}

func closedError() error {
	return &Error{Status: StatusClosed, Message: "the agent is closed"}
}
