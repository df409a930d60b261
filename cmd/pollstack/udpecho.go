package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/pollstack/pollstack/engine"
)

// startUDPEcho serves --app echo's UDP side: every datagram to port, on
// every address of either family, goes back to its source. The socket's
// core is the engine's choice (docs/sockets.md); datagrams that reach
// another core are handed to it. It returns the function that stops it.
func startUDPEcho(e *engine.Engine, port int) (func(), error) {
	pc, err := e.ListenUDP("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || errors.Is(err, engine.ErrEngineStopped) {
					return
				}
				continue // an error reported by ICMP: the next datagram
			}
			// A datagram that cannot be queued is lost, as UDP may lose
			// it anywhere; the server goes on.
			_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return func() {
		pc.Close()
		<-done
	}, nil
}
