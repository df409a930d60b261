package main

import (
	"errors"
	"flag"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// parseQuiet parses args into fs without printing the usage on a bad flag
// (the caller reports the error as one line); --help still prints it, once.
func parseQuiet(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) && usage != nil {
		usage()
	}
	return err
}

// checkFloat refuses NaN, ±Inf and values outside lo..hi; want says what
// the flag takes.
func checkFloat(cmd, name string, v, lo, hi float64, want string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		return usagef("%s: --%s %v: want %s", cmd, name, v, want)
	}
	return nil
}

// checkDuration refuses a negative duration, and one below min unless it is
// zero and zero is allowed; want says what the flag takes.
func checkDuration(cmd, name string, d time.Duration, zeroOK bool, min time.Duration, want string) error {
	if d < 0 || (d == 0 && !zeroOK) || (d > 0 && d < min) {
		return usagef("%s: --%s %v: want %s", cmd, name, d, want)
	}
	return nil
}

// checkIfaceName refuses what cannot be a Linux interface name (at most 15
// bytes, no '/', ':' or white space, not "." or ".."): the name also makes
// the control socket's file name.
func checkIfaceName(cmd, iface string) error {
	if iface == "" || len(iface) > 15 || iface == "." || iface == ".." ||
		strings.ContainsAny(iface, "/: \t\n") {
		return usagef("%s: --iface %q: not an interface name (1..15 characters, no '/', ':' or spaces)", cmd, iface)
	}
	return nil
}

// checkNetnsName refuses what cannot name a handle in /run/netns.
func checkNetnsName(cmd, ns string) error {
	if ns == "" {
		return nil
	}
	if len(ns) > 255 || ns == "." || ns == ".." || strings.ContainsAny(ns, "/@\x00") {
		return usagef("%s: --netns %q: not a network namespace name (a name in /run/netns: no '/' or '@')", cmd, ns)
	}
	return nil
}

// checkHostPort refuses a listen address that is not HOST:PORT with a
// numeric port in 0..65535 (0: any free port).
func checkHostPort(cmd, name, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return usagef("%s: --%s %q: want HOST:PORT", cmd, name, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("%s: --%s %q: want HOST:PORT with a port in 0..65535", cmd, name, v)
	}
	return nil
}

// checkOutputFile refuses an output file whose directory does not exist, so
// that a run does not fail at its end for want of a place to write.
func checkOutputFile(cmd, name, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return usagef("%s: --%s %s: directory %s does not exist", cmd, name, path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s: --%s %s: is a directory", cmd, name, path)
	}
	return nil
}

// maxSocketPath is the longest path a Unix socket address holds
// (sun_path's 108 bytes less the terminating NUL).
const maxSocketPath = 107

// checkControlFlag checks serve's --control before anything is attached:
// the directory of an explicit PATH must exist (serve creates only its
// default directory, /run/pollstack), the path must fit a socket address,
// an existing file there must be a socket, and no engine may answer on it.
func checkControlFlag(cmd, path string) error {
	if path == "" || path == "none" {
		return nil
	}
	if len(path) > maxSocketPath {
		return usagef("%s: --control %s: longer than a Unix socket path may be (%d bytes)", cmd, path, maxSocketPath)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s: --control %s: directory %s does not exist (serve creates only %s)", cmd, path, dir, controlDir)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket == 0 {
		return usagef("%s: --control %s: exists and is not a socket", cmd, path)
	}
	if st, _ := probeControl(path); st == probeLive {
		return usagef("%s: control socket %s is in use by a running engine (use --control)", cmd, path)
	}
	return nil
}

// flagGiven reports whether the command line set the flag name, so that a
// default can follow another flag without overriding an explicit value.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}
