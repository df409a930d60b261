package netns

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where `ip netns add` keeps its namespace handles.
const Dir = "/run/netns"

// Do runs fn on a locked OS thread that has entered the network namespace
// name (a handle in Dir), then returns that thread to the namespace it came
// from. An empty name means the current namespace: fn is just called.
//
// fn runs on a goroutine of its own, so the caller's thread never changes
// namespace. Sockets fn opens stay in the namespace they were opened in and
// may be used from any thread afterwards. If the original namespace cannot be
// restored, the goroutine exits with its thread still locked and the Go
// runtime discards the thread instead of reusing it. A panic in fn is
// re-raised in the caller after the namespace has been restored.
func Do(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	if strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return fmt.Errorf("netns: invalid namespace name %q", name)
	}
	path := filepath.Join(Dir, name)

	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() { done <- res }()

		runtime.LockOSThread()
		// Handles are opened after locking, so that "self" is this thread.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res.err = fmt.Errorf("netns: open current namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res.err = fmt.Errorf("netns: open %s: %w", path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			res.err = fmt.Errorf("netns: enter %s: %w", name, err)
			return
		}

		func() {
			defer func() {
				if v := recover(); v != nil {
					res.panicked, res.panicVal = true, v
				}
			}()
			res.err = fn()
		}()

		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: when this goroutine returns the
			// runtime terminates the thread rather than reuse it in the
			// wrong namespace.
			res.err = errors.Join(res.err, fmt.Errorf("netns: restore namespace after %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
	}()

	res := <-done
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}
