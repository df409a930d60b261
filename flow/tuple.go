package flow

// Tuple names a connection from our side: IPv4 addresses are IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d).
type Tuple struct {
	LocalAddr, RemoteAddr [16]byte
	LocalPort, RemotePort uint16
}

// v4Prefix is the first 12 bytes of an IPv4-mapped address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// IsIPv4 reports whether the tuple's remote address is IPv4-mapped (a
// connection's two addresses are of one family).
func (t *Tuple) IsIPv4() bool {
	return [12]byte(t.RemoteAddr[:12]) == v4Prefix
}

// BothIPv4 reports whether both of the tuple's addresses are IPv4-mapped.
func (t *Tuple) BothIPv4() bool {
	return [12]byte(t.LocalAddr[:12]) == v4Prefix && [12]byte(t.RemoteAddr[:12]) == v4Prefix
}
