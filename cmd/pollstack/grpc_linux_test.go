package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// rawCodec passes a *[]byte through as the message itself: a service
// without generated code (the request and the answer are bytes).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "pollstack-raw" }

func init() { encoding.RegisterCodec(rawCodec{}) }

// echoService is a unary gRPC service written by hand: Echo answers the
// request's bytes.
var echoService = grpc.ServiceDesc{
	ServiceName: "pollstack.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var b []byte
			if err := dec(&b); err != nil {
				return nil, err
			}
			return &b, nil
		},
	}},
}

// A gRPC server (google.golang.org/grpc: its health service and a
// hand-written echo service) on a pollstack listener answers a gRPC client
// on the kernel in the peer namespace: 10,000 unary calls (2,000 under the
// race detector) from 8 goroutines over 4 connections, health checks and echoes of 1 to 4000
// bytes taking turns, without an error and with every echo byte for byte.
func TestGRPCServerAgainstKernelClient(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	e := openBedEngineWith(t, bed, nil)
	l, err := e.Listen("tcp", ":9090")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("pollstack.test.Echo", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	srv.RegisterService(&echoService, struct{}{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	dial := func(ctx context.Context, addr string) (c net.Conn, err error) {
		err = netns.Do(bed.NsB, func() error { // a kernel socket in the peer namespace
			var d net.Dialer
			c, err = d.DialContext(ctx, "tcp4", addr)
			return err
		})
		return c, err
	}
	const workers, nconns = 8, 4
	calls := int64(10_000)
	if raceEnabled {
		calls = 2_000 // the full count runs without the race detector (.ci/run)
	}
	var ccs []*grpc.ClientConn
	for range nconns {
		cc, err := grpc.NewClient("passthrough:///198.18.0.1:9090",
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ccs = append(ccs, cc)
	}
	var next, failed, echoed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := ccs[w%nconns]
			hc := healthpb.NewHealthClient(cc)
			for {
				i := next.Add(1) - 1
				if i >= calls {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := call(ctx, cc, hc, int(i))
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("call %d: %v", i, err) })
					continue
				}
				if i%2 == 1 {
					echoed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d unary calls (%d echoes) in %v (%.0f calls/s), %d errors", calls, echoed.Load(), took.Round(time.Millisecond),
		float64(calls)/took.Seconds(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failed.Load(), calls)
	}
}

// call makes the i-th call: a health check when i is even, else an echo
// of a payload made from i.
func call(ctx context.Context, cc *grpc.ClientConn, hc healthpb.HealthClient, i int) error {
	if i%2 == 0 {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "pollstack.test.Echo"})
		if err != nil {
			return err
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", r.GetStatus())
		}
		return nil
	}
	req := make([]byte, 1+i*37%4000)
	for j := range req {
		req[j] = byte(i + j*7)
	}
	var resp []byte
	if err := cc.Invoke(ctx, "/pollstack.test.Echo/Echo", &req, &resp, grpc.CallContentSubtype("pollstack-raw")); err != nil {
		return err
	}
	if !bytes.Equal(req, resp) {
		return fmt.Errorf("echo of %d bytes: %d bytes back, differing", len(req), len(resp))
	}
	return nil
}
