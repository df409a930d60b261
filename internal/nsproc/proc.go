package nsproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// NetnsArgs returns args run in network namespace ns by ip-netns(8), which
// execs the program: the process it starts is the program itself.
func NetnsArgs(ns string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, args...)
}

// Run runs args and returns stdout and stderr together. ctx's end kills
// the process.
func Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Proc is a long-running process started by Start: a server or a
// generator. Its stderr is kept (the last 64 KiB) and scanned for a line.
type Proc struct {
	Args []string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's, valid once done is closed

	mu     sync.Mutex
	stderr bytes.Buffer
	ready  chan struct{}
	match  string
}

// Start starts args. When ready is not "", Wait for it with Ready: it is
// a substring of a stderr (or stdout) line that says the process is up.
func Start(args []string, ready string) (*Proc, error) {
	p := &Proc{Args: args, done: make(chan struct{}), ready: make(chan struct{}), match: ready}
	p.cmd = exec.Command(args[0], args[1:]...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		readySeen := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.stderr.Len() > 64<<10 {
				p.stderr.Reset()
			}
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if !readySeen && p.match != "" && strings.Contains(line, p.match) {
				readySeen = true
				close(p.ready)
			}
		}
		_, _ = io.Copy(io.Discard, pr) // drain the rest so the process never blocks on its output
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output returns what the process has printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Ready waits until the ready line was printed, the process exits, ctx
// ends or timeout passes.
func (p *Proc) Ready(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it was up: %v\n%s", p.Args[0], p.err, p.Output())
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s not up after %v:\n%s", p.Args[0], timeout, p.Output())
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig to the process (by its PID), waits up to grace for it to
// exit, then kills it. It returns an error when the process had to be
// killed or exited with an error after sig; a process that had already
// exited returns its own exit error. Stop may be called more than once.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if p.Exited() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(sig) // it may have exited meanwhile: the wait below tells
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exitErr()
	case <-t.C:
		_ = p.cmd.Process.Kill() // as above
		<-p.done
		return fmt.Errorf("%s still running %v after %v: killed\n%s", p.Args[0], grace, sig, p.Output())
	}
}

func (p *Proc) exitErr() error {
	if p.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return fmt.Errorf("%s: %w\n%s", p.Args[0], p.err, p.Output())
	}
	return p.err
}
