package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pollstack/pollstack/internal/gohttp"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

// options are the command's flags.
type options struct {
	Rounds    int
	Duration  time.Duration
	ServerCPU int
	WrkCPU    int
	Pollstack string // a pollstack binary; "" builds one
	JSON      bool
	// KernelServer, when set, makes the command the kernel's server on
	// that address (the command starts itself so inside the bed).
	KernelServer string
	// KernelTLSCert and KernelTLSKey make the kernel's server serve TLS.
	KernelTLSCert, KernelTLSKey string
	// NoH2 leaves out the HTTPS (HTTP/2) workload and h2load.
	NoH2 bool
}

const usageText = `usage: gohttpcmp [--rounds N] [--duration D] [--server-cpu N] [--wrk-cpu N] [--pollstack BIN] [--no-h2] [--json]

Measures net/http's server on pollstack ('pollstack serve --app gohttp')
against the same handler on the Linux kernel, with wrk from the peer
namespace of a fresh test bed: keep-alive and Connection: close, 1 and 64
connections; then both servers over TLS (HTTP/2 by ALPN, a self-signed
certificate made for the run) with h2load, 10 connections of 10 streams.
Prints the median requests/s, the ratio pollstack/kernel and the
generators' errors. Needs root, ip, ethtool, taskset, curl, wrk and h2load
(nghttp2-client; not with --no-h2), and go unless --pollstack is given.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := harness.NewFlagSet("gohttpcmp", usageText, stderr)
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every workload on both servers")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "wrk's run per workload and server")
	fs.IntVar(&o.ServerCPU, "server-cpu", 0, "the CPU both servers run on")
	fs.IntVar(&o.WrkCPU, "wrk-cpu", 1, "the CPU wrk runs on")
	fs.StringVar(&o.Pollstack, "pollstack", "", "the pollstack binary (default: go build ./cmd/pollstack)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.KernelServer, "kernel-server", "", "internal: serve on the kernel at this address (the command runs itself so in the bed)")
	fs.StringVar(&o.KernelTLSCert, "kernel-tls-cert", "", "internal: the kernel's server serves TLS with this PEM certificate")
	fs.StringVar(&o.KernelTLSKey, "kernel-tls-key", "", "internal: and this PEM key")
	fs.BoolVar(&o.NoH2, "no-h2", false, "leave out the HTTPS (HTTP/2) workload, and h2load")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, harness.Check(fs, harness.NoArgs(fs.Args()), harness.Rounds(o.Rounds), harness.Duration(o.Duration),
		harness.CPU("server-cpu", o.ServerCPU), harness.CPU("wrk-cpu", o.WrkCPU))
}

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	if o.KernelServer != "" {
		return kernelServer(o)
	}
	tools := []string{"ip", "ethtool", "taskset", "curl", "wrk"}
	if !o.NoH2 {
		tools = append(tools, "h2load")
	}
	if o.Pollstack == "" {
		tools = append(tools, "go")
	}
	ctx, stop, ok := harness.Prepare("gohttpcmp", "it builds a test bed (network namespaces, a veth pair) and pollstack needs AF_XDP", tools...)
	if !ok {
		return 1
	}
	defer stop()
	rep, err := compare(ctx, o, os.Stderr)
	return harness.Finish("gohttpcmp", rep, err, harness.TableOrJSON(o.JSON, printReport))
}

// kernelServer runs gohttp's server on a kernel socket until killed, over
// TLS when o names a certificate (as serve --app gohttp --tls-cert does:
// net/http's ServeTLS, HTTP/2 by ALPN).
func kernelServer(o options) int {
	l, err := net.Listen("tcp", o.KernelServer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohttpcmp: kernel server:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "gohttpcmp: kernel server on %s\n", l.Addr())
	srv := gohttp.Server()
	serve := func() error { return srv.Serve(l) }
	if o.KernelTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.KernelTLSCert, o.KernelTLSKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gohttpcmp: kernel server:", err)
			return 1
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		serve = func() error { return srv.ServeTLS(l, "", "") }
	}
	if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "gohttpcmp: kernel server:", err)
		return 1
	}
	return 0
}
