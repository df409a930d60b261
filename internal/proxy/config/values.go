package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The value parsers below are shared by the file and the flags; their
// errors say what is wrong with the value and what is wanted, and the
// caller adds where it was (FILE:LINE:COL or the flag's name).

func itoa(n int) string { return strconv.Itoa(n) }

// parseInt reads a decimal integer in lo..hi.
func parseInt(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q: want a whole number in %d..%d", s, lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d: want %d..%d", n, lo, hi)
	}
	return n, nil
}

// parseDuration reads a Go duration with its unit (5s, 100ms, 1m30s); it
// refuses a negative one, and zero unless zeroOK.
func parseDuration(s string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.Atoi(s); nerr == nil && s != "0" {
			return 0, fmt.Errorf("%q: want a duration with its unit, as %sms or %ss (HAProxy's bare numbers are milliseconds)", s, s, s)
		}
		return 0, fmt.Errorf("%q: want a duration such as 5s or 100ms", s)
	}
	if d < 0 || (d == 0 && !zeroOK) {
		if zeroOK {
			return 0, fmt.Errorf("%s: want 0 (off) or more", s)
		}
		return 0, fmt.Errorf("%s: want more than 0", s)
	}
	return d, nil
}

// parseServerAddr reads IP:PORT of a server: an IP literal (IPv6 in
// brackets, no zone) that can be a unicast peer, and a port in 1..65535.
func parseServerAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want IP:PORT (IPv6 as [2001:db8::1]:80)", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address (the proxy does not resolve names)", s, host)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: an address with a zone is not supported", s)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.AddrPort{}, fmt.Errorf("%q: %s cannot be a server's address", s, a)
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %v", s, err)
	}
	return netip.AddrPortFrom(a, p), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d: want 1..65535", n)
	}
	return uint16(n), nil
}

// parseBind reads a listener's [ADDR]:PORT: ":80" or "*:80" for every
// address, "198.18.0.1:80", "[2001:2::1]:80".
func parseBind(s string) (Bind, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Bind{}, fmt.Errorf("%q: want [ADDR]:PORT, as :80, 198.18.0.1:80 or [2001:2::1]:80", s)
	}
	p, err := parsePort(port)
	if err != nil {
		return Bind{}, fmt.Errorf("%q: %v", s, err)
	}
	if host == "" || host == "*" {
		return Bind{Port: p}, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return Bind{}, fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	if a.Zone() != "" {
		return Bind{}, fmt.Errorf("%q: an address with a zone is not supported", s)
	}
	a = a.Unmap()
	if a.IsMulticast() {
		return Bind{}, fmt.Errorf("%q: cannot listen on a multicast address", s)
	}
	if a.IsUnspecified() {
		// 0.0.0.0 and :: say "any" of one family; the engine's listeners
		// take every address, so they are the same as ":PORT".
		return Bind{Port: p}, nil
	}
	return Bind{Addr: a, Port: p}, nil
}

// overlaps says whether two binds would take the same connections.
func (b Bind) overlaps(o Bind) bool {
	return b.Port == o.Port && (!b.Addr.IsValid() || !o.Addr.IsValid() || b.Addr == o.Addr)
}

func parseMode(s string) (string, error) {
	if s == ModeTCP || s == ModeHTTP {
		return s, nil
	}
	return "", fmt.Errorf("%q: want tcp or http", s)
}

func parseBalance(s string) (string, error) {
	for _, b := range Balances {
		if s == b {
			return s, nil
		}
	}
	msg := fmt.Sprintf("%q: want roundrobin, leastconn, random2 or maghash", s)
	if hint := suggest(s, Balances); hint != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", hint)
	}
	switch s {
	case "source":
		msg += " (maghash hashes the client's address, as HAProxy's source does)"
	case "random":
		msg += " (random2 is HAProxy's random(2))"
	}
	return "", errors.New(msg)
}

func parseProxyVersion(s string, noneOK bool) (ProxyVersion, error) {
	switch s {
	case "v1", "1":
		return ProxyV1, nil
	case "v2", "2":
		return ProxyV2, nil
	case "none":
		if noneOK {
			return ProxyNone, nil
		}
	}
	if noneOK {
		return 0, fmt.Errorf("%q: want v1, v2 or none", s)
	}
	return 0, fmt.Errorf("%q: want v1 or v2", s)
}

// checkCores checks a CPU list's syntax: numbers and ascending ranges
// separated by commas, each CPU once.
func checkCores(s string) error {
	if s == "" {
		return errors.New("empty CPU list")
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > 4095 || strings.HasPrefix(lo, "+") {
			return fmt.Errorf("CPU list %q: %q is not a CPU number (0..4095)", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > 4095 || strings.HasPrefix(hi, "+") {
				return fmt.Errorf("CPU list %q: %q is not a range", s, part)
			}
		}
		for c := a; c <= b; c++ {
			if seen[c] {
				return fmt.Errorf("CPU list %q: CPU %d twice", s, c)
			}
			seen[c] = true
		}
	}
	return nil
}

// checkHostPort checks the metrics address: HOST:PORT, port 0..65535.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil || notAWord(s) {
		return fmt.Errorf("%q: want HOST:PORT", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: want HOST:PORT with a port in 0..65535", s)
	}
	return nil
}

// checkSysctl checks a tunable's form, NAME=VALUE with a dotted name
// (net.inet.tcp.msl=5000); the engine's registry checks the rest.
func checkSysctl(s string) error {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" || v == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") != "" {
		return fmt.Errorf("%q: want NAME=VALUE, as net.inet.tcp.msl=5000", s)
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: want an address in CIDR form, as 198.18.0.1/24", s)
	}
	a := p.Addr()
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Prefix{}, fmt.Errorf("%q: want a unicast address", s)
	}
	return p, nil
}

// checkName checks a section's or server's name: letters, digits and
// - _ . : only, as HAProxy allows.
func checkName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want a name of 1..64 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return fmt.Errorf("%q: a name holds letters, digits, '-', '_', '.' and ':' only", s)
		}
	}
	return nil
}

// suggest returns the word of words closest to w, if it is close enough
// to be a likely typo, or "".
func suggest(w string, words []string) string {
	best, bestD := "", 3
	for _, c := range words {
		d := distance(w, c)
		if d < bestD && d <= max(1, len(c)/3) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the edit distance between a and b (bytes), a swap of two
// neighbours counting as one edit ("bnid" is one from "bind").
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
