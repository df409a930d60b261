package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollstack/pollstack/internal/proxy/fwd"
)

// proxyCollector exports every core's proxy counters (fwd.Published) to
// Prometheus: per core and listener, per core and backend group, and per
// core and server.
type proxyCollector struct {
	apps   []*fwd.App
	lst    [len(fwd.ListenerCounterNames)]*prometheus.Desc
	grp    [len(fwd.GroupCounterNames)]*prometheus.Desc
	srv    [len(fwd.ServerCounterNames)]*prometheus.Desc
	lstAct *prometheus.Desc
	queue  *prometheus.Desc
	srvAct *prometheus.Desc
	srvUp  *prometheus.Desc
	pool   *prometheus.Desc
	rt     *prometheus.Desc
	pairs  *prometheus.Desc
}

func newProxyCollector(apps []*fwd.App) *proxyCollector {
	c := &proxyCollector{apps: apps}
	for i, n := range fwd.ListenerCounterNames {
		c.lst[i] = prometheus.NewDesc("pollstack_proxy_listener_"+n+"_total", "proxy listener counter "+n+" (docs/proxy.md)", []string{"core", "listener"}, nil)
	}
	for i, n := range fwd.GroupCounterNames {
		c.grp[i] = prometheus.NewDesc("pollstack_proxy_backend_"+n+"_total", "proxy backend group counter "+n+" (docs/proxy.md)", []string{"core", "backend"}, nil)
	}
	for i, n := range fwd.ServerCounterNames {
		c.srv[i] = prometheus.NewDesc("pollstack_proxy_server_"+n+"_total", "proxy server counter "+n+" (docs/proxy.md)", []string{"core", "backend", "server"}, nil)
	}
	c.lstAct = prometheus.NewDesc("pollstack_proxy_listener_active", "client connections open on the listener", []string{"core", "listener"}, nil)
	c.queue = prometheus.NewDesc("pollstack_proxy_backend_queue", "client connections waiting for a server", []string{"core", "backend"}, nil)
	c.srvAct = prometheus.NewDesc("pollstack_proxy_server_active", "backend connections open to the server", []string{"core", "backend", "server"}, nil)
	c.srvUp = prometheus.NewDesc("pollstack_proxy_server_up", "1 when the server is up (in rotation unless drained), 0 when the health checks took it down", []string{"core", "backend", "server"}, nil)
	c.pool = prometheus.NewDesc("pollstack_proxy_server_pool_idle", "HTTP mode: idle keep-alive connections to the server in the core's pool", []string{"core", "backend", "server"}, nil)
	c.rt = prometheus.NewDesc("pollstack_proxy_server_response_seconds", "HTTP mode: time from a request head sent to the server to its response head received", []string{"core", "backend", "server"}, nil)
	c.pairs = prometheus.NewDesc("pollstack_proxy_connections", "proxied connections open (until both legs are gone)", []string{"core"}, nil)
	return c
}

func (c *proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.lst {
		ch <- d
	}
	for _, d := range c.grp {
		ch <- d
	}
	for _, d := range c.srv {
		ch <- d
	}
	ch <- c.lstAct
	ch <- c.queue
	ch <- c.srvAct
	ch <- c.srvUp
	ch <- c.pool
	ch <- c.rt
	ch <- c.pairs
}

func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	for core, a := range c.apps {
		p := a.Published()
		cs := strconv.Itoa(core)
		ch <- prometheus.MustNewConstMetric(c.pairs, prometheus.GaugeValue, float64(p.Pairs.Load()), cs)
		for i := range p.Listeners {
			l := &p.Listeners[i]
			for k, d := range c.lst {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(l.Counters[k].Load()), cs, l.Name)
			}
			ch <- prometheus.MustNewConstMetric(c.lstAct, prometheus.GaugeValue, float64(l.Active.Load()), cs, l.Name)
		}
		for i := range p.Groups {
			g := &p.Groups[i]
			for k, d := range c.grp {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(g.Counters[k].Load()), cs, g.Name)
			}
			ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(g.Queue.Load()), cs, g.Name)
			for j := range g.Servers {
				s := &g.Servers[j]
				for k, d := range c.srv {
					ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(s.Counters[k].Load()), cs, g.Name, s.Name)
				}
				up := 0.0
				if s.Up.Load() {
					up = 1
				}
				ch <- prometheus.MustNewConstMetric(c.srvAct, prometheus.GaugeValue, float64(s.Active.Load()), cs, g.Name, s.Name)
				ch <- prometheus.MustNewConstMetric(c.srvUp, prometheus.GaugeValue, up, cs, g.Name, s.Name)
				ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(s.PoolIdle.Load()), cs, g.Name, s.Name)
				if n := s.RT[0].Load(); n > 0 || s.Counters[fwd.SrvHTTPRequests].Load() > 0 {
					buckets := make(map[float64]uint64, len(fwd.ResponseTimeBuckets))
					var cum uint64
					for k, ub := range fwd.ResponseTimeBuckets {
						cum += s.RT[k].Load()
						buckets[ub] = cum
					}
					cum += s.RT[len(fwd.ResponseTimeBuckets)].Load()
					ch <- prometheus.MustNewConstHistogram(c.rt, cum, float64(s.RTSum.Load())/1e9, buckets, cs, g.Name, s.Name)
				}
			}
		}
	}
}

// proxyStat is one core's view of one listener or one server, as the
// control socket's stat reports it.
type proxyStat struct {
	Core     int               `json:"core"`
	Kind     string            `json:"kind"` // "listener" or "server"
	Name     string            `json:"name"` // listener, or GROUP/SERVER
	Addr     string            `json:"addr,omitempty"`
	Up       bool              `json:"up,omitempty"`
	Active   int64             `json:"active"`
	Queue    int64             `json:"queue,omitempty"`
	PoolIdle int64             `json:"pool_idle,omitempty"`
	Counters map[string]uint64 `json:"counters"`
}

// proxyStats reads every core's published counters.
func proxyStats(apps []*fwd.App) []proxyStat {
	var out []proxyStat
	for core, a := range apps {
		p := a.Published()
		for i := range p.Listeners {
			l := &p.Listeners[i]
			m := map[string]uint64{}
			for k, n := range fwd.ListenerCounterNames {
				m[n] = l.Counters[k].Load()
			}
			out = append(out, proxyStat{Core: core, Kind: "listener", Name: l.Name, Active: l.Active.Load(), Counters: m})
		}
		for i := range p.Groups {
			g := &p.Groups[i]
			for j := range g.Servers {
				s := &g.Servers[j]
				m := map[string]uint64{}
				for k, n := range fwd.ServerCounterNames {
					m[n] = s.Counters[k].Load()
				}
				for k, n := range fwd.GroupCounterNames {
					m["backend_"+n] = g.Counters[k].Load()
				}
				out = append(out, proxyStat{Core: core, Kind: "server", Name: g.Name + "/" + s.Name, Addr: s.Addr,
					Up: s.Up.Load(), Active: s.Active.Load(), Queue: g.Queue.Load(), PoolIdle: s.PoolIdle.Load(), Counters: m})
			}
		}
	}
	return out
}

// printProxyStat prints the proxy's part of stat: each listener and server
// per core, with rates over the interval.
func printProxyStat(w io.Writer, prev, cur []proxyStat, secs float64) {
	if len(cur) == 0 {
		return
	}
	old := map[string]map[string]uint64{}
	for _, p := range prev {
		old[fmt.Sprintf("%s/%d/%s", p.Kind, p.Core, p.Name)] = p.Counters
	}
	rate := func(p proxyStat, k string) float64 {
		o := old[fmt.Sprintf("%s/%d/%s", p.Kind, p.Core, p.Name)]
		return float64(p.Counters[k]-o[k]) / secs
	}
	fmt.Fprintln(w, "proxy:")
	for _, p := range cur {
		if p.Kind != "listener" {
			continue
		}
		http := ""
		if p.Counters["http_requests"] > 0 {
			http = fmt.Sprintf(", %.0f requests/s", rate(p, "http_requests"))
		}
		fmt.Fprintf(w, "  listener %s, core %d: %d open, %.0f accepted/s%s; %s\n", p.Name, p.Core, p.Active,
			rate(p, "accepted"), http, nonZero(p.Counters, "accepted", "refused_maxconn", "proxy_header_errors",
				"proxy_header_timeouts", "idle_timeouts", "client_resets", "http_requests", "http_refused",
				"http_request_timeouts", "http_keepalive_timeouts", "http_502", "http_503", "http_504"))
	}
	for _, p := range cur {
		if p.Kind != "server" {
			continue
		}
		state := "up"
		if !p.Up {
			state = "DOWN"
		}
		http := ""
		if p.Counters["http_requests"] > 0 {
			http = fmt.Sprintf(", %.0f requests/s, %d idle pooled", rate(p, "http_requests"), p.PoolIdle)
		}
		fmt.Fprintf(w, "  server %s (%s), core %d: %s, %d open, %.0f connections/s%s, out %.1f Mbit/s, in %.1f Mbit/s; %s\n",
			p.Name, p.Addr, p.Core, state, p.Active, rate(p, "connections"), http, rate(p, "bytes_out")*8/1e6, rate(p, "bytes_in")*8/1e6,
			nonZero(p.Counters, "connections", "connect_refused", "connect_timeout", "connect_reset", "connect_noport",
				"connect_other", "retries", "resets", "write_errors", "check_failures", "went_down", "went_up", "backend_queued",
				"backend_queue_timeouts", "backend_no_server", "http_requests", "http_responses_1xx", "http_responses_2xx",
				"http_responses_3xx", "http_responses_4xx", "http_responses_5xx", "http_bad_responses", "pool_reused",
				"pool_closed", "pool_expired"))
	}
}
