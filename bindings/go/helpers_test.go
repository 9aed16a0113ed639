package opentrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// testConfig returns a config delivering to dir/out; extra is appended to the top-level keys.
func testConfig(dir, durability, extra string) string {
	return fmt.Sprintf(`data_dir = %q
account_id = "123456789012"
durability = %q
%s
[storage]
local_root = %q
[[trails]]
name = "main"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
delivery_interval_secs = 300
`, filepath.Join(dir, "data"), durability, extra, filepath.Join(dir, "out"))
}

func newAgent(t testing.TB, dir, durability, extra string) *Agent {
	t.Helper()
	a, err := New(testConfig(dir, durability, extra))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// makeRecord returns a valid CloudTrail record with a unique eventID, padded to size bytes
// when size is larger than its natural length.
func makeRecord(n uint64, size int) []byte {
	rec := fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"alice"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.7","eventType":"AwsApiCall","recipientAccountId":"123456789012","eventID":"%08x-0000-4000-8000-%012x"`, (n>>16)&0xffffffff, n)
	overhead := len(`,"pad":""}`)
	if size > len(rec)+overhead {
		rec += `,"pad":"` + strings.Repeat("x", size-len(rec)-overhead) + `"`
	}
	return []byte(rec + "}")
}

// canonical re-encodes a JSON record with sorted keys.
func canonical(t testing.TB, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %.80s: %v", raw, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// delivered reads every *.json.gz under root (each must be one gzip member holding
// {"Records":[...]} under audit-logs/AWSLogs/<acct>/CloudTrail/) and returns its records,
// canonicalised and sorted.
func delivered(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) < 4 || parts[0] != "audit-logs" || parts[1] != "AWSLogs" || parts[3] != "CloudTrail" {
			t.Errorf("unexpected object path %s", rel)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		br := bytes.NewReader(raw)
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		zr.Multistream(false)
		text, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		if br.Len() != 0 {
			t.Errorf("%s is not a single gzip member (%d bytes follow)", rel, br.Len())
		}
		var doc struct {
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(text, &doc); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		for _, r := range doc.Records {
			out = append(out, canonical(t, r))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("reading delivered files: %v", err)
	}
	sort.Strings(out)
	return out
}

func corpusPath(t testing.TB) string {
	dir := os.Getenv("OPENTRAIL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	path := filepath.Join(dir, "records.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("corpus not found at %s (set OPENTRAIL_CORPUS): %v", path, err)
	}
	return path
}

// corpusLines returns the corpus's non-empty lines.
func corpusLines(t testing.TB) [][]byte {
	raw, err := os.ReadFile(corpusPath(t))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// corpusRefused reads ffi/tests/data/corpus_refused.txt: line index -> expected reason.
func corpusRefused(t testing.TB) map[int]string {
	f, err := os.Open(filepath.Join("..", "..", "ffi", "tests", "data", "corpus_refused.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		row := sc.Text()
		if row == "" || strings.HasPrefix(row, "#") {
			continue
		}
		fields := strings.Fields(row)
		n, err := strconv.Atoi(fields[0])
		if err != nil || len(fields) != 2 {
			t.Fatalf("bad row %q", row)
		}
		out[n] = fields[1]
	}
	return out
}
