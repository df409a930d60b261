package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pollstack/pollstack/internal/testbed"
)

// Pollstack returns the pollstack program a tool runs: bin when given,
// else one built into dir, which it says on log ("tool: go build ...").
func Pollstack(ctx context.Context, tool, bin, dir string, log io.Writer) (string, error) {
	if bin != "" {
		return bin, nil
	}
	fmt.Fprintf(log, "%s: go build %s\n", tool, PollstackPackage)
	return BuildPollstack(ctx, dir)
}

// UpBed brings up a fresh test bed named after tool (testbed.Unique) with
// queues queue pairs and says so on log. down removes the bed, or what Up
// made of it, joining a failure to *err: defer it even when UpBed fails.
func UpBed(tool string, queues int, log io.Writer) (bed *testbed.Bed, down func(err *error), err error) {
	name := testbed.Unique(tool)
	down = func(err *error) {
		if derr := testbed.Down(name); derr != nil {
			*err = errors.Join(*err, fmt.Errorf("remove bed %s: %w", name, derr))
		}
	}
	if bed, err = testbed.Up(name, queues); err != nil {
		return nil, down, err
	}
	fmt.Fprintf(log, "%s: %v\n", tool, bed)
	return bed, down, nil
}

// Finish ends a tool's run: the report, when the run made one, is shown
// by show (whose error joins the run's), and an error is printed as
// "tool: error" on stderr. It returns the exit status: 1 on error, else 0.
func Finish[R any](tool string, rep *R, err error, show func(*R) error) int {
	if rep != nil {
		if serr := show(rep); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
		return 1
	}
	return 0
}

// TableOrJSON is the show of a tool whose --json prints the report as JSON
// on stdout in place of the table print writes.
func TableOrJSON[R any](asJSON bool, print func(io.Writer, *R)) func(*R) error {
	return func(rep *R) error {
		if asJSON {
			return WriteJSON(os.Stdout, rep)
		}
		print(os.Stdout, rep)
		return nil
	}
}

// TableAndJSON is the show of a tool that prints the table print writes
// and, with --json FILE (path, "" for none), also writes the report there
// as JSON.
func TableAndJSON[R any](path string, print func(io.Writer, *R)) func(*R) error {
	return func(rep *R) error {
		print(os.Stdout, rep)
		if path == "" {
			return nil
		}
		return WriteJSONFile(path, rep)
	}
}

// WriteJSONFile writes v to path as indented JSON and a newline.
func WriteJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Quote joins a command line for a report, quoting the words that hold a
// space or a quote with single quotes.
func Quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
