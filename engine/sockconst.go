package engine

import "encoding/binary"

// Socket-call constants. The option levels and names have FreeBSD's values
// (<sys/socket.h>, <netinet/tcp.h>), since pollstack follows tcp(4); the
// domains and types have the host's (golang.org/x/sys/unix), so that
// syscall.AF_INET and friends work as arguments.
const (
	SOL_SOCKET  = 0xffff
	IPPROTO_TCP = 6

	SO_REUSEADDR = 0x0004
	SO_KEEPALIVE = 0x0008
	SO_LINGER    = 0x0080
	SO_REUSEPORT = 0x0200
	SO_SNDBUF    = 0x1001
	SO_RCVBUF    = 0x1002
	SO_ERROR     = 0x1007

	TCP_NODELAY    = 0x01
	TCP_MAXSEG     = 0x02
	TCP_NOPUSH     = 0x04
	TCP_NOOPT      = 0x08
	TCP_INFO       = 0x20
	TCP_CONGESTION = 0x40
	TCP_KEEPINIT   = 0x80
	TCP_KEEPIDLE   = 0x100
	TCP_KEEPINTVL  = 0x200
	TCP_KEEPCNT    = 0x400

	SHUT_RD   = 0
	SHUT_WR   = 1
	SHUT_RDWR = 2
)

// TCPInfoLen is the size of TCP_INFO's value (see Socket.GetSockOpt).
const TCPInfoLen = 104

// TCPCANameMax is the room TCP_CONGESTION's value needs (FreeBSD's
// TCP_CA_NAME_MAX).
const TCPCANameMax = 16

func putNative(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
