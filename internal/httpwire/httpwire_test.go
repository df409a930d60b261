package httpwire

import "testing"

func TestHelpers(t *testing.T) {
	if !IsDigit('7') || IsDigit('a') || IsDigit('/') || IsDigit(':') {
		t.Fatal("IsDigit")
	}
	if got := string(TrimOWS([]byte(" \t keep-alive \t"))); got != "keep-alive" {
		t.Fatalf("TrimOWS: %q", got)
	}
	if string(TrimOWS([]byte(" \t "))) != "" {
		t.Fatal("TrimOWS of blanks")
	}
	if !EqualFold([]byte("Keep-ALIVE"), "keep-alive") || EqualFold([]byte("keep-alivf"), "keep-alive") || EqualFold([]byte("keep"), "keep-alive") {
		t.Fatal("EqualFold")
	}
}
