package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// PollstackPackage is the import path of the command-line program.
const PollstackPackage = "github.com/pollstack/pollstack/cmd/pollstack"

// BuildPollstack builds the pollstack program into dir with go build (run
// from inside the module) and returns the binary's path.
func BuildPollstack(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "pollstack")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, PollstackPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", PollstackPackage, err, bytes.TrimSpace(out))
	}
	return bin, nil
}
