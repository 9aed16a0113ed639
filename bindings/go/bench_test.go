package opentrail

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Submit cost from one goroutine, durability = "memory", 1.2 KB records, while the pipeline
// drains them. Run: go test -run '^$' -bench . -benchtime 100000x
// (see ffi/BENCHMARKS.md). records/s counts the submit phase; e2e-records/s includes the flush;
// cpu-ns/record is the submitting OS thread's CPU time (the goroutine is locked to it), which
// does not grow when other processes or the pipeline's threads take the cores. memory_limit_mb
// = 1024 gives a 256 MB queue: 100,000 × 1.2 KB records go "into the queue" without waiting
// for the pipeline to drain.

const benchRecordBytes = 1200

// benchRecord is the record ffi/benches/bench_submit.c and the Python benchmark use.
func benchRecord(n uint64, size int) []byte {
	rec := fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser",`+
		`"principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice",`+
		`"accountId":"123456789012","userName":"alice"},`+
		`"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com",`+
		`"eventName":"GetObject","awsRegion":"eu-west-1",`+
		`"sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15",`+
		`"requestParameters":{"bucketName":"data","key":"k/%d"},`+
		`"responseElements":null,"eventType":"AwsApiCall",`+
		`"recipientAccountId":"123456789012",`+
		`"eventID":"%08x-0000-4000-8000-%012x","pad":"`, n, n, n)
	return []byte(rec + strings.Repeat("x", max(size-len(rec)-2, 0)) + `"}`)
}

func benchPool() [][]byte {
	pool := make([][]byte, 1024)
	for i := range pool {
		pool[i] = benchRecord(uint64(i), benchRecordBytes)
	}
	return pool
}

func benchAgent(b *testing.B) *Agent {
	return newAgent(b, b.TempDir(), "memory", "submit_timeout_ms = 60000\nmemory_limit_mb = 1024")
}

// threadCPU is the calling OS thread's CPU time (user + system).
func threadCPU(b *testing.B) time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchFinish(b *testing.B, a *Agent, n int, start time.Time, submitted, cpu time.Duration) {
	if err := a.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	e2e := time.Since(start)
	b.StopTimer()
	if s, _ := a.Stats(); s.RecordsDelivered != uint64(n) {
		b.Fatalf("delivered %d of %d", s.RecordsDelivered, n)
	}
	b.ReportMetric(float64(n)/submitted.Seconds(), "records/s")
	b.ReportMetric(float64(submitted.Nanoseconds())/float64(n), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/record")
	b.ReportMetric(float64(n)/e2e.Seconds(), "e2e-records/s")
	_ = a.Close()
}

func BenchmarkSubmit(b *testing.B) {
	pool := benchPool()
	a := benchAgent(b)
	b.SetBytes(benchRecordBytes)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0, start := threadCPU(b), time.Now()
	for i := 0; i < b.N; i++ {
		if err := a.Submit(pool[i%len(pool)]); err != nil {
			b.Fatal(err)
		}
	}
	submitted := time.Since(start)
	benchFinish(b, a, b.N, start, submitted, threadCPU(b)-cpu0)
}

func BenchmarkSubmitBatch(b *testing.B) {
	const batch = 1000
	pool := benchPool()
	lines := bytes.Join(pool[:batch], []byte("\n"))
	a := benchAgent(b)
	b.SetBytes(benchRecordBytes)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0, start := threadCPU(b), time.Now()
	done := 0
	for done < b.N {
		n, err := a.SubmitBatch(lines)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	submitted := time.Since(start)
	benchFinish(b, a, done, start, submitted, threadCPU(b)-cpu0)
}
