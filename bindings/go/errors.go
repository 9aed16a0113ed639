package opentrail

/*
#include "opentrail.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Status is the C ABI's ot_status code. Values are stable (see ffi/README.md).
type Status uint32

// Status codes, in blocks: 1xx usage, 2xx configuration, 3xx intake, 4xx destination,
// 9xx internal.
const (
	StatusOK                Status = 0
	StatusNullParameter     Status = 100
	StatusInvalidUTF8       Status = 101
	StatusConfigParse       Status = 200
	StatusConfigInvalid     Status = 201
	StatusDataDirLocked     Status = 210
	StatusStartFailed       Status = 211
	StatusInvalidRecord     Status = 300
	StatusBusy              Status = 301
	StatusClosed            Status = 302
	StatusTimeout           Status = 303
	StatusSpoolFailed       Status = 310
	StatusDestinationFailed Status = 400
	StatusPanic             Status = 900
	StatusPoisoned          Status = 901
)

// String returns the library's description of the status.
func (s Status) String() string {
	return C.GoString(C.ot_status_str(C.ot_status(s)))
}

// Sentinels for errors.Is. Every error this package returns is an *Error that matches the
// sentinel of its status (or block).
var (
	// ErrInvalidRecord: a record was refused (invalid UTF-8 or JSON, oversize, bad fields).
	ErrInvalidRecord = errors.New("opentrail: invalid record")
	// ErrBusy: the memory budget stayed full for submit_timeout_ms; retry later.
	ErrBusy = errors.New("opentrail: busy")
	// ErrClosed: the agent is closed.
	ErrClosed = errors.New("opentrail: agent closed")
	// ErrTimeout: a flush or close did not finish in time.
	ErrTimeout = errors.New("opentrail: timed out")
	// ErrConfig: the configuration is invalid or the agent could not start (2xx).
	ErrConfig = errors.New("opentrail: configuration error")
	// ErrDestination: delivery to a destination failed (4xx).
	ErrDestination = errors.New("opentrail: destination error")
	// ErrInternal: a caught panic or a poisoned agent (9xx).
	ErrInternal = errors.New("opentrail: internal error")
)

// Error is a failure reported by the C library.
type Error struct {
	Status  Status
	Message string
	// Reason is the stable rejection reason for refused records ("invalid_json", ...).
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("opentrail: %s (status %d)", e.Message, uint32(e.Status))
}

// Is matches the sentinel of the error's status or status block.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidRecord:
		return e.Status == StatusInvalidRecord
	case ErrBusy:
		return e.Status == StatusBusy
	case ErrClosed:
		return e.Status == StatusClosed
	case ErrTimeout:
		return e.Status == StatusTimeout
	case ErrConfig:
		return e.Status/100 == 2
	case ErrDestination:
		return e.Status/100 == 4
	case ErrInternal:
		return e.Status/100 == 9
	}
	return false
}

// errorFrom converts a failed call's status and ot_error into a Go error, copying the message
// and freeing the C object at once.
func errorFrom(st C.ot_status, cerr *C.ot_error) error {
	if st == C.OT_STATUS_OK {
		return nil
	}
	e := &Error{Status: Status(st)}
	if cerr != nil {
		e.Message = C.GoString(C.ot_error_message(cerr))
		if r := C.ot_error_reason(cerr); r != nil {
			e.Reason = C.GoString(r)
		}
		C.ot_error_free(cerr)
	} else {
		e.Message = Status(st).String()
	}
	return e
}
