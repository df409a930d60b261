package harness

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Main runs a perf tool's command line: parse reads the flags (it prints
// its own message and usage), and a bad flag exits 2, --help 0; run's
// result is the exit status.
func Main[O any](parse func(args []string, stderr io.Writer) (O, error), run func(O) int) {
	o, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	os.Exit(run(o))
}

// Prepare checks what a tool that builds a test bed needs: root (why says
// what for) and the commands it runs. It prints one line and reports false
// when something is missing. The context ends on SIGINT or SIGTERM, so the
// tool can tear down what it made.
func Prepare(tool, why string, commands ...string) (context.Context, context.CancelFunc, bool) {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "%s: must run as root: %s; try: sudo go run ./perf/cmd/%s\n", tool, why, tool)
		return nil, nil, false
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s not found: %v\n", tool, c, err)
			return nil, nil, false
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, stop, true
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// NewFlagSet returns a tool's flag set: errors, and the usage (usage, then
// the flags with their defaults), go to stderr.
func NewFlagSet(tool, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(tool, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// Check refuses the first of errs that is not nil (see Refuse) and
// returns nil when all are.
func Check(fs *flag.FlagSet, errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return Refuse(fs, "%v", err)
		}
	}
	return nil
}

// Refuse reports a bad flag: "tool: message" and the usage on the flag
// set's output; it returns the error (the tool exits 2).
func Refuse(fs *flag.FlagSet, format string, a ...any) error {
	err := fmt.Errorf(fs.Name()+": "+format, a...)
	fmt.Fprintln(fs.Output(), err)
	fs.Usage()
	return err
}
