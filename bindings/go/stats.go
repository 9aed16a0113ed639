package opentrail

/*
#include "opentrail.h"
*/
import "C"

// Stats are an agent's counters since it started.
type Stats struct {
	RecordsAccepted  uint64
	RecordsRejected  uint64
	RecordsDelivered uint64
	RecordsPending   uint64
	FilesDelivered   uint64
	BytesDelivered   uint64
}

func statsFrom(s *C.ot_stats) Stats {
	return Stats{
		RecordsAccepted:  uint64(s.records_accepted),
		RecordsRejected:  uint64(s.records_rejected),
		RecordsDelivered: uint64(s.records_delivered),
		RecordsPending:   uint64(s.records_pending),
		FilesDelivered:   uint64(s.files_delivered),
		BytesDelivered:   uint64(s.bytes_delivered),
	}
}
