package bedtest

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/internal/netns"
)

// PacketWriter writes whole Ethernet frames onto an interface through a
// packet socket (AF_PACKET): crafted frames and floods from a bed's kernel
// end, with any source addresses. It receives nothing.
type PacketWriter struct{ fd int }

// NewPacketWriter opens a PacketWriter on iface in namespace ns, closed when
// t ends.
func NewPacketWriter(t testing.TB, ns, iface string) *PacketWriter {
	t.Helper()
	w := &PacketWriter{fd: -1}
	err := netns.Do(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		if w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(w.fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	})
	if w.fd >= 0 {
		t.Cleanup(func() { unix.Close(w.fd) })
	}
	if err != nil {
		t.Fatalf("bedtest: packet socket on %s in %s: %v", iface, ns, err)
	}
	return w
}

// Write sends one frame.
func (w *PacketWriter) Write(frame []byte) error {
	_, err := unix.Write(w.fd, frame)
	return err
}
