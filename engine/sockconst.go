package engine

import "encoding/binary"

// Socket-call constants, in the host's numbering: the option levels and
// names have Linux's values (those of syscall and golang.org/x/sys/unix),
// so that a Go program passes syscall.SOL_SOCKET, syscall.TCP_KEEPIDLE and
// friends as it would to the kernel; the domains and types are the host's
// too (syscall.AF_INET, syscall.SOCK_STREAM). Behind the names is FreeBSD's
// behaviour, tcp(4), where the two differ (docs/sockets.md, "Options").
const (
	SOL_SOCKET  = 0x1
	IPPROTO_TCP = 0x6
	IPPROTO_UDP = 0x11

	SO_REUSEADDR  = 0x2
	SO_TYPE       = 0x3 // read-only: SOCK_STREAM
	SO_ERROR      = 0x4 // read-only
	SO_SNDBUF     = 0x7
	SO_RCVBUF     = 0x8
	SO_KEEPALIVE  = 0x9
	SO_LINGER     = 0xd
	SO_REUSEPORT  = 0xf
	SO_ACCEPTCONN = 0x1e // read-only
	SO_PROTOCOL   = 0x26 // read-only: IPPROTO_TCP
	SO_DOMAIN     = 0x27 // read-only: AF_INET or AF_INET6

	TCP_NODELAY    = 0x1
	TCP_MAXSEG     = 0x2
	TCP_CORK       = 0x3 // FreeBSD's TCP_NOPUSH behind it
	TCP_KEEPIDLE   = 0x4
	TCP_KEEPINTVL  = 0x5
	TCP_KEEPCNT    = 0x6
	TCP_INFO       = 0xb // read-only: Linux's struct tcp_info
	TCP_CONGESTION = 0xd

	// FreeBSD's own options, which Linux lacks, have numbers in a private
	// range, PrivateOptBase and up: FreeBSD's number plus the base. Linux's
	// option numbers are small (under 100), so a program that passes
	// Linux's numbers never reaches one of these by accident.
	TCP_NOPUSH   = PrivateOptBase + 0x04 // as TCP_CORK
	TCP_NOOPT    = PrivateOptBase + 0x08
	TCP_KEEPINIT = PrivateOptBase + 0x80

	SHUT_RD   = 0
	SHUT_WR   = 1
	SHUT_RDWR = 2
)

// PrivateOptBase is the start of the private range of option numbers
// pollstack gives FreeBSD's options that Linux has not (TCP_NOPUSH,
// TCP_NOOPT, TCP_KEEPINIT): 0x7000..0x7fff, far above Linux's numbers
// and under 1<<16 (sockopt.go keys its switches on level<<16 | name).
const PrivateOptBase = 0x7000

// TCPInfoLen is the size of TCP_INFO's value: Linux's struct tcp_info
// (as of Linux 6.x, golang.org/x/sys/unix.SizeofTCPInfo). A shorter buffer
// gets the first len(val) bytes, as on Linux.
const TCPInfoLen = 280

// TCPCANameMax is the room TCP_CONGESTION's value needs (Linux's and
// FreeBSD's TCP_CA_NAME_MAX).
const TCPCANameMax = 16

func putNative(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
