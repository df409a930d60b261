package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsExample: docs/proxy.md shows testdata/example.conf as it is.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/proxy.md")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile("testdata/example.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```\n"+string(ex)+"```\n") {
		t.Error("docs/proxy.md does not hold testdata/example.conf in a code block, as it is")
	}
}
