//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "gvisor-http: Linux only (AF_XDP, AF_PACKET, network namespaces)")
	os.Exit(1)
}
