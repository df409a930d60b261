package fwd

import "github.com/pollstack/pollstack/internal/proxy/h1"

// earlyBodyRefusal checks the part of a chunked request body that arrived
// with its head, before the head goes to a server: a body already known to
// be malformed (a bad chunk size or line end, say) refuses the request with
// nothing forwarded, as a proxy that reads a whole buffer before it
// forwards would. What arrives later is checked as it is forwarded (a
// refusal then resets the server leg). It returns h1.OK when nothing
// received is wrong.
func earlyBodyRefusal(p *pair, req *h1.Request) h1.Reason {
	if req.Framing != h1.Chunked || p.cli == nil {
		return h1.OK
	}
	x, y := p.cli.Peek()
	skip := p.held // the head's bytes still in the buffer
	if skip >= len(x) {
		skip -= len(x)
		x, y = y, nil
	}
	if skip > len(x) {
		return h1.OK
	}
	x = x[skip:]
	var b h1.Body
	b.Reset(h1.Chunked, 0, h1.Limits{})
	for _, in := range [2][]byte{x, y} {
		for len(in) > 0 && !b.Done() {
			st, why := b.Next(in)
			if why != h1.OK {
				return why
			}
			if st.N == 0 {
				return h1.OK
			}
			in = in[st.N:]
		}
	}
	return h1.OK
}
