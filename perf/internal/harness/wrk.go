package harness

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Wrk is what the tools read from wrk's report.
type Wrk struct {
	Requests uint64  `json:"requests"`  // "N requests in ..."
	Seconds  float64 `json:"seconds"`   // the run's length as wrk reports it
	Rate     float64 `json:"rate"`      // "Requests/sec:"
	SockErrs uint64  `json:"sock_errs"` // connect + read + write + timeout
	Non2xx   uint64  `json:"non_2xx"`   // "Non-2xx or 3xx responses:"
	// ErrLine is wrk's "Socket errors:" line as printed, or "".
	ErrLine string `json:"err_line,omitempty"`
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)\b`)
	wrkRate     = regexp.MustCompile(`(?m)^Requests/sec:\s*([0-9.]+)`)
	wrkSockErrs = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
)

// ParseWrk reads wrk's plain report (no Lua script).
func ParseWrk(out string) (Wrk, error) {
	var w Wrk
	m := wrkRequests.FindStringSubmatch(out)
	r := wrkRate.FindStringSubmatch(out)
	if m == nil || r == nil {
		return w, fmt.Errorf("wrk: no \"requests in\" or \"Requests/sec\" line in its output:\n%s", strings.TrimSpace(out))
	}
	w.Requests, _ = strconv.ParseUint(m[1], 10, 64)
	w.Seconds, _ = strconv.ParseFloat(m[2], 64)
	w.Seconds *= map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m[3]]
	w.Rate, _ = strconv.ParseFloat(r[1], 64)
	if e := wrkSockErrs.FindStringSubmatch(out); e != nil {
		w.ErrLine = strings.TrimSpace(e[0])
		for _, s := range e[1:] {
			n, _ := strconv.ParseUint(s, 10, 64)
			w.SockErrs += n
		}
	}
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		w.Non2xx, _ = strconv.ParseUint(e[1], 10, 64)
	}
	return w, nil
}

// Check fails a run that saw a socket error, a response other than 2xx or
// 3xx, or no request at all.
func (w Wrk) Check() error {
	switch {
	case w.SockErrs > 0:
		return fmt.Errorf("wrk: %s", w.ErrLine)
	case w.Non2xx > 0:
		return fmt.Errorf("wrk: %d non-2xx or 3xx responses", w.Non2xx)
	case w.Requests == 0:
		return fmt.Errorf("wrk: no request completed")
	}
	return nil
}
