package harness

import (
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 100}, 3.5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("Median changed its input: %v", in)
			}
		}
	}
	if Ratio(3, 2) != 1.5 || Ratio(1, 0) != 0 {
		t.Errorf("Ratio: %v %v", Ratio(3, 2), Ratio(1, 0))
	}
}

const wrkClean = `Running 5s test @ http://198.18.0.1:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   822.55us  410.31us  12.03ms   89.91%
    Req/Sec    30.12k     2.01k   34.50k    70.00%
  299717 requests in 5.00s, 21.73MB read
Requests/sec:  59934.05
Transfer/sec:      4.35MB
`

const wrkErrors = `Running 2s test @ http://198.18.1.2/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms    2.11ms  40.00ms   95.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  20001 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  10000.50
Transfer/sec:    512.00KB
`

func TestParseWrk(t *testing.T) {
	w, err := ParseWrk(wrkClean)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests != 299717 || w.Seconds != 5 || w.Rate != 59934.05 || w.SockErrs != 0 || w.Non2xx != 0 || w.Check() != nil {
		t.Errorf("clean: %+v, check %v", w, w.Check())
	}
	w, err = ParseWrk(wrkErrors)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests != 20001 || w.Rate != 10000.5 || w.SockErrs != 6 || w.Non2xx != 7 ||
		w.ErrLine != "Socket errors: connect 0, read 3, write 1, timeout 2" {
		t.Errorf("errors: %+v", w)
	}
	if err := w.Check(); err == nil || !strings.Contains(err.Error(), "read 3") {
		t.Errorf("check: %v", err)
	}
	w.SockErrs = 0
	if err := w.Check(); err == nil || !strings.Contains(err.Error(), "7 non-2xx") {
		t.Errorf("check non-2xx: %v", err)
	}
	if _, err := ParseWrk("unable to connect to 198.18.0.1:8080 Connection refused\n"); err == nil {
		t.Error("ParseWrk accepted a failed run")
	}
	w, _ = ParseWrk(strings.Replace(wrkClean, "299717 requests in 5.00s", "12 requests in 900.00ms", 1))
	if w.Seconds != 0.9 {
		t.Errorf("ms: %v", w.Seconds)
	}
}
