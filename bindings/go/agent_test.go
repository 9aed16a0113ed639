package opentrail

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	if v := LibraryVersion(); !strings.HasPrefix(v, "opentrail-ffi/") {
		t.Fatalf("version %q", v)
	}
	if StatusInvalidRecord.String() != "invalid record" {
		t.Fatalf("status string %q", StatusInvalidRecord.String())
	}
}

func TestSubmitFlushStats(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "spool", "")
	defer a.Close()
	recs := [][]byte{makeRecord(1, 0), makeRecord(2, 0), makeRecord(3, 0)}
	for _, r := range recs {
		if err := a.Submit(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{RecordsAccepted: 3, RecordsDelivered: 3, FilesDelivered: 1, BytesDelivered: s.BytesDelivered}
	if s != want || s.BytesDelivered == 0 {
		t.Fatalf("stats %+v", s)
	}
	got := delivered(t, filepath.Join(dir, "out"))
	if len(got) != 3 {
		t.Fatalf("delivered %d records", len(got))
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		config string
		status Status
	}{
		{"this is [not toml", StatusConfigParse},
		{testConfig(dir, "memory", "bogus_key = 1"), StatusConfigParse},
		{strings.Replace(testConfig(dir, "memory", ""), `"123456789012"`, `"12"`, 1), StatusConfigInvalid},
		{strings.Replace(testConfig(dir, "memory", ""), "audit-logs", "../etc", 1), StatusConfigInvalid},
		{"data_dir = \"\xff\"", StatusInvalidUTF8},
	}
	for _, c := range cases {
		a, err := New(c.config)
		if a != nil || err == nil {
			t.Fatalf("config %q: no error", c.config)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Fatalf("config %q: %v, want status %d", c.config, err, c.status)
		}
		if c.status/100 == 2 && !errors.Is(err, ErrConfig) {
			t.Fatalf("%v should match ErrConfig", err)
		}
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	defer a.Close()
	_, err := New(testConfig(dir, "memory", ""))
	var e *Error
	if !errors.Is(err, ErrConfig) || !errors.As(err, &e) || e.Status != StatusDataDirLocked {
		t.Fatalf("second agent on the same data_dir: %v", err)
	}
}

func TestInvalidRecords(t *testing.T) {
	a := newAgent(t, t.TempDir(), "memory", "max_record_bytes = 2048")
	defer a.Close()
	badUTF8 := bytes.Replace(makeRecord(5, 0), []byte("alice"), []byte("al\xff\xfece"), 1)
	cases := []struct {
		rec    []byte
		reason string
	}{
		{[]byte("{"), "invalid_json"},
		{[]byte("[1]"), "not_an_object"},
		{badUTF8, "invalid_utf8"},
		{[]byte(`{"eventName":"X"}`), "missing_field"},
		{makeRecord(6, 2049), "oversize"},
		{nil, "not_an_object"},
	}
	for _, c := range cases {
		err := a.Submit(c.rec)
		var e *Error
		if !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &e) {
			t.Fatalf("%.40q: %v", c.rec, err)
		}
		if e.Reason != c.reason || e.Status != StatusInvalidRecord || e.Message == "" {
			t.Fatalf("%.40q: reason %q, want %q (%v)", c.rec, e.Reason, c.reason, err)
		}
		if errors.Is(err, ErrBusy) || errors.Is(err, ErrClosed) {
			t.Fatalf("%v matches the wrong sentinel", err)
		}
	}
	if err := a.Submit(makeRecord(7, 2048)); err != nil {
		t.Fatalf("a record of exactly max_record_bytes: %v", err)
	}
	s, _ := a.Stats()
	if s.RecordsRejected != uint64(len(cases)) || s.RecordsAccepted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSubmitBatch(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	defer a.Close()
	batch := bytes.Join([][]byte{makeRecord(1, 0), []byte("{broken"), nil, makeRecord(2, 0)}, []byte("\n"))
	n, err := a.SubmitBatch(batch)
	if n != 2 || !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("accepted %d, err %v", n, err)
	}
	n, err = a.SubmitBatch(makeRecord(3, 0))
	if n != 1 || err != nil {
		t.Fatalf("accepted %d, err %v", n, err)
	}
	n, err = a.SubmitBatch(nil)
	if n != 0 || err != nil {
		t.Fatalf("empty batch: %d, %v", n, err)
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := delivered(t, filepath.Join(dir, "out")); len(got) != 3 {
		t.Fatalf("delivered %d", len(got))
	}
}

func TestCloseIdempotentAndClosedErrors(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	if err := a.Submit(makeRecord(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := a.Submit(makeRecord(2, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if _, err := a.SubmitBatch(makeRecord(3, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("SubmitBatch after Close: %v", err)
	}
	if err := a.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	s, err := a.Stats()
	if err != nil || s.RecordsDelivered != 1 || s.RecordsPending != 0 {
		t.Fatalf("final stats %+v, %v", s, err)
	}
	b := newAgent(t, dir, "memory", "") // data_dir unlocked again
	_ = b.Close()
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	defer a.Close()
	const workers, per = 4, 400
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				rec := makeRecord(uint64(w*1_000_000+i), 0)
				var err error
				if i%10 == 0 {
					_, err = a.SubmitBatch(rec)
				} else {
					err = a.Submit(rec)
				}
				if err != nil {
					errs <- err
					return
				}
				if i%100 == 0 {
					if _, err := a.Stats(); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if err := a.Flush(context.Background()); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := delivered(t, filepath.Join(dir, "out")); len(got) != workers*per {
		t.Fatalf("delivered %d", len(got))
	}
}

func TestCloseRacesSubmit(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	const workers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	var other []error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				err := a.Submit(makeRecord(uint64(w*1_000_000+i), 0))
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrClosed):
					mu.Unlock()
					return
				default:
					other = append(other, err)
					mu.Unlock()
					return
				}
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(50 * time.Millisecond)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatal(other)
	}
	s, _ := a.Stats()
	if s.RecordsAccepted != uint64(ok) || s.RecordsDelivered != uint64(ok) {
		t.Fatalf("ok %d, stats %+v", ok, s)
	}
	if got := delivered(t, filepath.Join(dir, "out")); len(got) != ok {
		t.Fatalf("delivered %d, acknowledged %d", len(got), ok)
	}
}

// TestFinalizerReleasesForgottenAgent: an agent dropped without Close is shut down (and its
// records delivered) by the finalizer once the garbage collector finds it.
func TestFinalizerReleasesForgottenAgent(t *testing.T) {
	dir := t.TempDir()
	func() {
		a := newAgent(t, dir, "memory", "")
		for i := 0; i < 20; i++ {
			if err := a.Submit(makeRecord(uint64(i), 0)); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		if got := delivered(t, filepath.Join(dir, "out")); len(got) == 20 {
			// The finalizer also released the data_dir lock.
			b, err := New(testConfig(dir, "memory", ""))
			if err == nil {
				_ = b.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("finalizer did not shut the agent down")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFlushContext(t *testing.T) {
	dir := t.TempDir()
	// A file where the bucket folder should be: delivery keeps failing.
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out", "audit-logs"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, dir, "memory", "shutdown_grace_secs = 1")
	if err := a.Submit(makeRecord(1, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Flush(ctx)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("flush against a failing destination: %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrDestination) {
		t.Fatalf("flush error %v", err)
	}
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if err := a.Flush(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled flush: %v", err)
	}
	if err := a.Close(); err == nil {
		t.Fatal("Close should report the undelivered record")
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
