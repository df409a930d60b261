package h1

import "testing"

// TestWordChecks compares the word-at-a-time checks with the byte tables
// for every byte at every position of a word and its tail.
func TestWordChecks(t *testing.T) {
	for c := range 256 {
		for pos := range 11 {
			b := []byte("abcdefghijk")
			b[pos] = byte(c)
			wantV := class[c]&cValue != 0
			wantT := class[c]&cTarget != 0
			if validValue(b) != wantV || validTarget(b) != wantT {
				t.Errorf("byte %#x at %d: value %v target %v", c, pos, validValue(b), validTarget(b))
			}
		}
	}
}
