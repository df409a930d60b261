package tcp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The protocol packages start no goroutine and use no channel or select:
// they run inside a core's loop, one call at a time (DESIGN.md, "The
// protocol is pure"). golangci-lint's forbidigo keeps clocks and sleeps out
// of them; go statements, channels and selects are not identifiers, so this
// test looks for them in the packages' non-test files.
func TestProtocolPackagesStartNoGoroutine(t *testing.T) {
	for _, dir := range []string{".", "../tw", "../flow", "../mono"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %d files, %v", dir, len(files), err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var what string
				switch n.(type) {
				case *ast.GoStmt:
					what = "a go statement"
				case *ast.SelectStmt:
					what = "a select"
				case *ast.ChanType:
					what = "a channel"
				case *ast.SendStmt:
					what = "a channel send"
				default:
					return true
				}
				t.Errorf("%s: %s in a protocol package", fset.Position(n.Pos()), what)
				return true
			})
		}
	}
}
