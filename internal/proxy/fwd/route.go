package fwd

import (
	"bytes"

	"github.com/pollstack/pollstack/internal/proxy/h1"
)

// A route sends requests for a host (any, if empty) whose path begins
// with a prefix (any, if empty) to a group.
type route struct {
	host, path []byte // host lower case
	grp        *group
}

// route chooses req's group: of the routes that match, the one with the
// longest path prefix, then one with a host, then the first; the
// listener's default group when none does.
func (l *listener) route(req *h1.Request) *group {
	if len(l.routes) == 0 {
		return l.grp
	}
	host := hostOf(req.Authority)
	path := pathOf(req)
	best, score := l.grp, -1
	for i := range l.routes {
		r := &l.routes[i]
		if len(r.host) > 0 && !equalFoldLower(host, r.host) {
			continue
		}
		if !bytes.HasPrefix(path, r.path) {
			continue
		}
		sc := 2 * len(r.path)
		if len(r.host) > 0 {
			sc++
		}
		if sc > score {
			best, score = r.grp, sc
		}
	}
	return best
}

// hostOf is an authority's host, without the port (and an IPv6 literal
// with its brackets).
func hostOf(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		if i := bytes.IndexByte(a, ']'); i > 0 {
			return a[:i+1]
		}
		return a
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 {
		return a[:i]
	}
	return a
}

// pathOf is the path of req's target: the origin form up to '?', or an
// absolute form's after its authority ("/" when it has none).
func pathOf(req *h1.Request) []byte {
	t := req.Target
	if req.Form == h1.AbsoluteForm {
		if i := bytes.Index(t, []byte("://")); i >= 0 {
			t = t[i+3:]
			if j := bytes.IndexByte(t, '/'); j >= 0 {
				t = t[j:]
			} else {
				return slash
			}
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return t
}

var slash = []byte("/")

// equalFoldLower compares b with lower, which is lower case, ignoring
// ASCII case in b.
func equalFoldLower(b, lower []byte) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
