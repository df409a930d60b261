package h1

import (
	"fmt"
	"net/netip"
)

// testEdit is the edit the tests and fuzz targets render request heads
// with: every forwarding field, appended.
var testEdit = RequestEdit{
	Client:     netip.MustParseAddr("2001:2::7"),
	Forwarding: XForwardedFor | XForwardedProto | XForwardedHost | Forwarded,
}

// reqResult is what a request parser ends with, as a comparable string.
type reqResult struct {
	n    int
	done bool
	why  Reason
	sum  string
}

// summary describes a done request head: every result field, the fields
// and the edited head.
func (p *RequestParser) summary() string {
	r := p.Request()
	s := fmt.Sprintf("%v %q %q form %d 1.%d host %q auth %q %v %d flags %#x keep %v len %d head %q\n",
		r.Method, r.MethodName, r.Target, r.Form, r.Minor, r.Host, r.Authority,
		r.Framing, r.ContentLength, r.Flags, r.KeepAlive, r.HeadLen, p.Head())
	for i := range p.Fields() {
		n, v := p.Field(i)
		s += fmt.Sprintf("%q: %q\n", n, v)
	}
	out := p.AppendHead(nil, &testEdit)
	return s + fmt.Sprintf("out %q", out)
}

// feedReq feeds data to p in pieces cut at the given offsets (increasing),
// as a caller that consumes each piece would, and stops at done or a
// refusal.
func feedReq(p *RequestParser, data []byte, cuts ...int) reqResult {
	p.Reset()
	total, prev := 0, 0
	for k := 0; k <= len(cuts); k++ {
		end := len(data)
		if k < len(cuts) {
			end = cuts[k]
		}
		n, done, why := p.Feed(data[prev:end])
		total += n
		switch {
		case why != OK:
			return reqResult{why: why}
		case done:
			return reqResult{n: total, done: true, sum: p.summary()}
		case n != end-prev:
			return reqResult{why: 255, sum: fmt.Sprintf("took %d of %d", n, end-prev)}
		}
		prev = end
	}
	return reqResult{n: total}
}

func (p *ResponseParser) summary() string {
	r := p.Response()
	s := fmt.Sprintf("%d %q 1.%d %v %d flags %#x keep %v interim %v len %d head %q\n",
		r.Status, r.Reason, r.Minor, r.Framing, r.ContentLength, r.Flags, r.KeepAlive,
		r.Interim(), r.HeadLen, p.Head())
	for i := range p.Fields() {
		n, v := p.Field(i)
		s += fmt.Sprintf("%q: %q\n", n, v)
	}
	out := p.AppendHead(nil, &ResponseEdit{})
	return s + fmt.Sprintf("out %q", out)
}

// respCtx is the request a response answers in a test.
type respCtx struct {
	m       Method
	upgrade bool
}

func feedResp(p *ResponseParser, ctx respCtx, data []byte, cuts ...int) reqResult {
	p.Reset()
	p.SetRequest(ctx.m, ctx.upgrade)
	total, prev := 0, 0
	for k := 0; k <= len(cuts); k++ {
		end := len(data)
		if k < len(cuts) {
			end = cuts[k]
		}
		n, done, why := p.Feed(data[prev:end])
		total += n
		switch {
		case why != OK:
			return reqResult{why: why}
		case done:
			return reqResult{n: total, done: true, sum: p.summary()}
		case n != end-prev:
			return reqResult{why: 255, sum: fmt.Sprintf("took %d of %d", n, end-prev)}
		}
		prev = end
	}
	return reqResult{n: total}
}
