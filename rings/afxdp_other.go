//go:build !linux

package rings

import (
	"errors"
	"time"
)

var errNoXDP = errors.New("rings: AF_XDP needs Linux")

// XDPProgram is an XDP program attached to an interface; AF_XDP needs Linux.
type XDPProgram struct {
	Iface   string
	Netns   string
	Ifindex int
	Queues  int
	Mode    XDPMode
}

// AttachXDP fails: AF_XDP needs Linux.
func AttachXDP(iface, netns string, queues int) (*XDPProgram, error) { return nil, errNoXDP }

// Register fails: AF_XDP needs Linux.
func (p *XDPProgram) Register(queue, fd int) error { return errNoXDP }

// Unregister fails: AF_XDP needs Linux.
func (p *XDPProgram) Unregister(queue int) error { return errNoXDP }

// Close does nothing.
func (p *XDPProgram) Close() error { return nil }

// XDPLink is an AF_XDP socket; AF_XDP needs Linux.
type XDPLink struct{}

// OpenXDP fails: AF_XDP needs Linux.
func OpenXDP(cfg XDPConfig) (*XDPLink, error) { return nil, errNoXDP }

func (l *XDPLink) Pool() *Pool                { return nil }
func (l *XDPLink) Receive(descs []Desc) int   { return 0 }
func (l *XDPLink) Transmit(descs []Desc) int  { return 0 }
func (l *XDPLink) Wait(timeout time.Duration) {}
func (l *XDPLink) Stats() LinkStats           { return LinkStats{} }
func (l *XDPLink) Close() error               { return nil }
func (l *XDPLink) FD() int                    { return -1 }
func (l *XDPLink) ZeroCopy() bool             { return false }
func (l *XDPLink) TxOffloads() TxOffloads     { return TxOffloads{} }

var _ Link = (*XDPLink)(nil)
