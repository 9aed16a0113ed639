package opentrail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestCorpusSubmit ships the whole corpus record by record: every line listed in
// corpus_refused.txt is refused (ErrInvalidRecord, listed reason), every other line is
// delivered, as read back from the .json.gz files.
func TestCorpusSubmit(t *testing.T) {
	lines, want := corpusLines(t), corpusRefused(t)
	dir := t.TempDir()
	a := newAgent(t, dir, "memory", "")
	defer a.Close()
	refused := map[int]string{}
	var accepted []string
	for i, l := range lines {
		err := a.Submit(l)
		var e *Error
		switch {
		case err == nil:
			accepted = append(accepted, canonical(t, l))
		case errors.Is(err, ErrInvalidRecord) && errors.As(err, &e):
			refused[i] = e.Reason
		default:
			t.Fatalf("line %d: %v", i, err)
		}
	}
	if !reflect.DeepEqual(refused, want) {
		t.Fatalf("refused %v, want %v", refused, want)
	}
	checkDelivered(t, a, dir, accepted, len(want))
}

// TestCorpusBatch ships the whole corpus as one SubmitBatch (durability = "spool").
func TestCorpusBatch(t *testing.T) {
	lines, want := corpusLines(t), corpusRefused(t)
	dir := t.TempDir()
	a := newAgent(t, dir, "spool", "")
	defer a.Close()
	n, err := a.SubmitBatch(bytes.Join(lines, []byte("\n")))
	first := len(lines)
	for i := range want {
		first = min(first, i)
	}
	if n != len(lines)-len(want) || !errors.Is(err, ErrInvalidRecord) ||
		!strings.Contains(err.Error(), fmt.Sprintf("line %d:", first)) {
		t.Fatalf("accepted %d, err %v", n, err)
	}
	var accepted []string
	for i, l := range lines {
		if _, bad := want[i]; !bad {
			accepted = append(accepted, canonical(t, l))
		}
	}
	checkDelivered(t, a, dir, accepted, len(want))
}

func checkDelivered(t *testing.T, a *Agent, dir string, accepted []string, rejected int) {
	t.Helper()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(len(accepted))
	if s.RecordsAccepted != n || s.RecordsDelivered != n || s.RecordsRejected != uint64(rejected) || s.RecordsPending != 0 {
		t.Fatalf("stats %+v, accepted %d", s, n)
	}
	got := delivered(t, filepath.Join(dir, "out"))
	sort.Strings(accepted)
	if !reflect.DeepEqual(got, accepted) {
		t.Fatalf("delivered %d records, accepted %d; contents differ", len(got), len(accepted))
	}
}
