package engine

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// The keep-alive and buffer setters of *net.TCPConn set the options a
// program would read back with the host's constants.
func TestTCPConnSettersAsNetTCPConn(t *testing.T) {
	p := newSockPair(t, nil)
	c, _ := dialEchoed(t, p)
	tc := c.(*TCPConn)
	get := func(level, name int) int {
		t.Helper()
		b := make([]byte, 4)
		if _, err := tc.Socket().GetSockOpt(level, name, b); err != nil {
			t.Fatalf("getsockopt %d/%d: %v", level, name, err)
		}
		return int(int32(binary.NativeEndian.Uint32(b)))
	}
	// The interface package net's users check for.
	var _ interface {
		SetKeepAlive(bool) error
		SetKeepAlivePeriod(time.Duration) error
		SetKeepAliveConfig(net.KeepAliveConfig) error
		SetLinger(int) error
		SetNoDelay(bool) error
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
		CloseRead() error
		CloseWrite() error
	} = tc

	if err := tc.SetKeepAlive(true); err != nil || get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 1 {
		t.Fatalf("SetKeepAlive(true): %v, SO_KEEPALIVE %d", err, get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
	}
	if err := tc.SetKeepAlivePeriod(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if idle, intvl := get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL); idle != 2 || intvl != 2 {
		t.Fatalf("SetKeepAlivePeriod(1.5s): idle %d, interval %d; want 2, 2 (rounded up)", idle, intvl)
	}
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: 0}); err != nil {
		t.Fatal(err)
	}
	if idle, intvl, cnt := get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT); idle != 30 || intvl != 2 || cnt != 9 {
		t.Fatalf("SetKeepAliveConfig: idle %d, interval %d, count %d; want 30, 2 (unchanged), 9 (net's default)", idle, intvl, cnt)
	}
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: false}); err != nil || get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0 {
		t.Fatalf("SetKeepAliveConfig(disabled): %v, SO_KEEPALIVE %d", err, get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
	}
	// The buffers are made with the connection (chunks taken as bytes
	// come): a connected socket refuses a new size, as sockopt.go says,
	// with the errno inside a *net.OpError as package net's errors.
	for name, set := range map[string]func(int) error{"SetReadBuffer": tc.SetReadBuffer, "SetWriteBuffer": tc.SetWriteBuffer} {
		err := set(128 << 10)
		var oe *net.OpError
		if !errors.As(err, &oe) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s on a connection = %v, want a *net.OpError with EINVAL", name, err)
		}
	}
}
