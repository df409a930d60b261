package httpapp

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzFeed feeds arbitrary bytes, whole and then in chunks of chunk%64+1
// bytes through a queue of depth%4+1 responses read out in reads of
// chunk%13+1 bytes. It checks that the two outputs agree and parse with
// net/http.ReadResponse as a sequence of valid HTTP/1.1 responses, one per
// request answered, ending at the first that closes the connection.
func FuzzFeed(f *testing.F) {
	for _, s := range streams {
		f.Add([]byte(s), uint8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk, depth uint8) {
		cfg := Config{MaxSize: 1 << 17}
		r := New(cfg)
		whole, heads := run(t, r, [][]byte{data}, 64<<10)
		ps := parseAll(t, whole, heads)
		if r.Requests() != uint64(len(ps)) {
			t.Fatalf("Requests %d, %d responses", r.Requests(), len(ps))
		}
		for i, p := range ps {
			switch p.status {
			case 200:
				if !heads[i] && string(p.body) != DefaultBody && string(p.body) != patternBody(len(p.body)) {
					t.Fatalf("response %d: body %.80q", i, p.body)
				}
			case 405:
				if p.header.Get("Allow") != "GET, HEAD" {
					t.Fatalf("response %d: 405 without Allow", i)
				}
			case 400, 431:
				if !p.close {
					t.Fatalf("response %d: %d without Connection: close", i, p.status)
				}
			default:
				t.Fatalf("response %d: status %d", i, p.status)
			}
			if p.close && i != len(ps)-1 {
				t.Fatalf("response %d closes but %d follow", i, len(ps)-1-i)
			}
		}
		if last := len(ps) - 1; r.Done() != (last >= 0 && ps[last].close) {
			t.Fatalf("Done %v after %d responses", r.Done(), len(ps))
		}

		r = New(Config{MaxSize: cfg.MaxSize, QueueDepth: int(depth%4) + 1})
		size := int(chunk%64) + 1
		var chunks [][]byte
		for d := data; len(d) > 0; {
			n := min(size, len(d))
			chunks = append(chunks, d[:n])
			d = d[n:]
		}
		out, heads2 := run(t, r, chunks, int(chunk%13)+1)
		if !bytes.Equal(out, whole) || len(heads2) != len(heads) {
			t.Fatalf("chunks of %d, depth %d: output differs\n got %.300q\nwant %.300q", size, depth%4+1, out, whole)
		}
	})
}

var writeSeeds = flag.Bool("seeds", false, "write the rule inputs to testdata/fuzz/FuzzFeed")

// TestWriteSeeds writes every TestRules input to the FuzzFeed seed corpus
// when run with -seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -seeds to write the corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFeed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tc := range rules {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%q)\nbyte(%q)\n", tc.in, byte(i*7), byte(i))
		name := strings.Map(func(c rune) rune {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				return c
			}
			return '-'
		}, tc.name)
		if err := os.WriteFile(filepath.Join(dir, "rule-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
