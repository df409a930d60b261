package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/nsproc"
)

// openQueue bounds the requests waiting for a free connection: beyond it
// the generator could not even queue its schedule, and the run fails.
const openQueue = 1 << 16

// openLate is how far behind its scheduled time a request may start before
// it counts as late (it waited for a free connection, or the generator's
// CPU was behind).
const openLate = time.Millisecond

// openSpec is an open-loop run: rate requests/s on a fixed schedule over
// conns keep-alive connections from network namespace ns to addr, for
// warmup and then the window d.
type openSpec struct {
	ns     string
	addr   netip.AddrPort
	rate   float64
	conns  int
	warmup time.Duration
	d      time.Duration
}

// openResult is what the generator measured. Latency runs from a request's
// scheduled time (not its send) to its response's last byte, so the time
// a request waited for a free connection counts (coordinated omission
// corrected, as in wrk2).
type openResult struct {
	Scheduled uint64          // requests scheduled in the window
	Done      uint64          // of those, answered 200 with the body
	Late      uint64          // of those, started more than openLate after their time
	Latencies []time.Duration // of the Done ones, sorted
}

// openAt is the generator's hook at the window's edges: edge 0 at its
// start, 1 at its end, each called from its own goroutine at the time.
type openAt func(edge int)

// openLoop runs s. It returns an error for any failed request (a
// connection error, a status other than 200, a body other than the
// backends', a connection the proxy closed) or a schedule the generator
// could not queue.
func openLoop(ctx context.Context, s openSpec, at openAt) (openResult, error) {
	var res openResult
	conns := make([]net.Conn, 0, s.conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := netns.Do(s.ns, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for range s.conns {
			c, err := d.DialContext(ctx, "tcp4", s.addr.String())
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("open loop: connect to %s: %w", s.addr, err)
	}
	req := []byte(fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: proxycmp\r\n\r\n", s.addr))

	start := time.Now().Add(10 * time.Millisecond)
	w0, w1 := start.Add(s.warmup), start.Add(s.warmup+s.d)
	queue := make(chan time.Time, openQueue)
	var (
		failed  atomic.Bool
		errOnce sync.Once
		runErr  error
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, int(s.rate*s.d.Seconds())+16)
		late    uint64
	)
	fail := func(err error) {
		errOnce.Do(func() { runErr = err })
		failed.Store(true)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(c, 4096)
			var mine []time.Duration
			var myLate uint64
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				late += myLate
				mu.Unlock()
			}()
			for t := range queue {
				if failed.Load() {
					continue // drain: the run has failed
				}
				sent := time.Now()
				_ = c.SetDeadline(sent.Add(10 * time.Second))
				if _, err := c.Write(req); err != nil {
					fail(fmt.Errorf("open loop: connection %d: write: %w", i, err))
					continue
				}
				if err := readHello(br); err != nil {
					fail(fmt.Errorf("open loop: connection %d: %w", i, err))
					continue
				}
				end := time.Now()
				if t.Before(w0) || !t.Before(w1) {
					continue
				}
				mine = append(mine, end.Sub(t))
				if sent.Sub(t) > openLate {
					myLate++
				}
			}
		}()
	}
	// The window's edges are sampled off the schedule's goroutine: a sample
	// reads /proc and the proxy's counters, which takes milliseconds.
	var edges sync.WaitGroup
	edges.Add(1)
	go func() {
		defer edges.Done()
		for i, e := range []time.Time{w0, w1} {
			if sleepUntil(ctx, e) != nil {
				return
			}
			at(i)
		}
	}()
	var scheduled, overflow uint64
	interval := time.Duration(float64(time.Second) / s.rate)
	next := start
	for n := uint64(0); next.Before(w1) && !failed.Load() && ctx.Err() == nil; {
		now := time.Now()
		for !next.After(now) && next.Before(w1) {
			select {
			case queue <- next:
				if !next.Before(w0) {
					scheduled++
				}
			default:
				overflow++
			}
			n++
			next = start.Add(time.Duration(n) * interval)
		}
		if sleepUntil(ctx, next) != nil {
			break
		}
	}
	close(queue)
	wg.Wait()
	edges.Wait()
	slices.Sort(lat)
	res = openResult{Scheduled: scheduled, Done: uint64(len(lat)), Late: late, Latencies: lat}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case runErr != nil:
		return res, runErr
	case overflow > 0:
		return res, fmt.Errorf("open loop: %d requests found %d already waiting for a connection: the proxy fell behind the schedule", overflow, openQueue)
	case res.Done != res.Scheduled:
		return res, fmt.Errorf("open loop: %d requests scheduled in the window, %d answered", res.Scheduled, res.Done)
	case res.Done == 0:
		return res, errors.New("open loop: no request in the window")
	}
	return res, nil
}

// readHello reads one response and checks it is the backends' 200 with
// nsproc.NginxBody on a connection that stays open.
func readHello(br *bufio.Reader) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("read body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s", resp.Status)
	case string(body) != nsproc.NginxBody:
		return fmt.Errorf("body %q, want %q", body, nsproc.NginxBody)
	case resp.Close:
		return errors.New("the proxy closed a keep-alive connection")
	}
	return nil
}

// sleepUntil sleeps until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	return sleep(ctx, d)
}

// quantile returns the q-quantile of sorted (nearest rank), 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
