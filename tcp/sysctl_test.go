package tcp

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Every tunable the brief and tcp(4) name is registered under
// net.inet.tcp., with a unit and a description.
func TestSysctlNames(t *testing.T) {
	want := []string{"msl", "maxtcptw", "nolocaltimewait", "finwait2_timeout", "fast_finwait2_recycle", "mssdflt",
		"sendspace", "recvspace", "recvbuf_auto", "recvbuf_max", "sendbuf_auto", "sendbuf_max", "ack_war_timewindow", "ack_war_cnt", "rxdrop_window", "buffer_memory", "rfc1323", "sack.enable", "ecn.enable", "log_in_vain", "ts_offset_per_conn",
		"isn_reseed_interval", "cc.algorithm", "delayed_ack", "delacktime", "keepinit", "keepidle", "keepintvl",
		"keepcnt", "always_keepalive", "rexmit_initial", "rexmit_min", "rexmit_slop", "initcwnd_segments",
		"syncookies", "blackhole", "insecure_rst", "insecure_syn", "drop_synfin", "icmp_may_rst", "reass.maxqueuelen", "tw_reuse",
		"tcbhashsize", "pcbcount", "sack.dsack", "functions_default", "rfc6675_pipe", "do_prr", "do_prr_conservative",
		"rack.tlp.reorder_thresh", "rack.tlp.tlpminto", "rack.tlp.tlpinrecovery", "rack.tlp.probe_rexmit", "frto", "path_mtu_discovery", "hostcache.expire",
		"pmtud_blackhole_detection", "pmtud_blackhole_mss", "v6pmtud_blackhole_mss", "ecn.maxretries", "cc.dctcp.alpha", "cc.dctcp.shift_g",
		"cc.dctcp.slowstart", "cc.hystartplusplus.enable", "cc.hystartplusplus.minrtt_thresh", "cc.hystartplusplus.maxrtt_thresh",
		"cc.hystartplusplus.minrtt_divisor", "cc.hystartplusplus.n_rttsamples", "cc.hystartplusplus.css_growth_div",
		"cc.hystartplusplus.css_rounds"}
	full := []string{"net.inet.ip.portrange.first", "net.inet.ip.portrange.last", "kern.ipc.maxsockets"}
	if len(Sysctls()) != len(want)+len(full) {
		t.Errorf("%d tunables registered, want %d", len(Sysctls()), len(want)+len(full))
	}
	for _, n := range full {
		if _, err := LookupSysctl(n); err != nil {
			t.Error(err)
		}
	}
	for _, n := range want {
		s, err := LookupSysctl("net.inet.tcp." + n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if s.Unit == "" || s.Description == "" || strings.Contains(s.Description, "\n") {
			t.Errorf("%s: unit %q, description %q", s.Name, s.Unit, s.Description)
		}
		if s.ReadOnly != (n == "tcbhashsize" || n == "pcbcount") {
			t.Errorf("%s: read-only %v", s.Name, s.ReadOnly)
		}
	}
}

// The table test: every tunable reads its default from DefaultConfig and
// setting that value back changes nothing; the values just inside the
// limits are accepted and read back, those just outside refused with one
// line naming the limit, leaving the configuration as it was; read-only
// tunables refuse any value.
func TestSysctlTable(t *testing.T) {
	def := DefaultConfig()
	for _, s := range Sysctls() {
		got, err := Get(&def, s.Name)
		if err != nil || got != s.Default {
			t.Errorf("%s: Get %q, %v; want the default %q", s.Name, got, err, s.Default)
		}
		cfg := DefaultConfig()
		if s.ReadOnly {
			err := Set(&cfg, s.Name, s.Default)
			if err == nil || err.Error() != s.Name+": read-only" {
				t.Errorf("%s: Set on a read-only tunable: %v", s.Name, err)
			}
			continue
		}
		if err := Set(&cfg, s.Name, s.Default); err != nil {
			t.Errorf("%s: setting the default %q: %v", s.Name, s.Default, err)
		}
		if v, _ := Get(&cfg, s.Name); v != s.Default {
			t.Errorf("%s: the default did not round-trip: %q", s.Name, v)
		}
		if s.setS != nil {
			continue // cc.algorithm: below
		}
		for _, v := range []int64{s.Min, s.Max} {
			cfg := DefaultConfig()
			if s.Name == "net.inet.ip.portrange.last" {
				cfg.PortFirst = 1024 // the range may not be upside down
			}
			if err := Set(&cfg, s.Name, strconv.FormatInt(v, 10)); err != nil {
				t.Errorf("%s: %d (a limit) refused: %v", s.Name, v, err)
				continue
			}
			if got, _ := Get(&cfg, s.Name); got != strconv.FormatInt(v, 10) {
				t.Errorf("%s: set %d, read %s", s.Name, v, got)
			}
		}
		for _, c := range []struct {
			v    int64
			want string
		}{{s.Min - 1, "is below the minimum " + strconv.FormatInt(s.Min, 10)},
			{s.Max + 1, "is above the maximum " + strconv.FormatInt(s.Max, 10)}} {
			cfg := DefaultConfig()
			err := Set(&cfg, s.Name, strconv.FormatInt(c.v, 10))
			if err == nil || !strings.HasPrefix(err.Error(), s.Name+": ") || !strings.Contains(err.Error(), c.want) ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("%s = %d: error %v, want one line with %q", s.Name, c.v, err, c.want)
			}
			if !sameConfig(cfg, DefaultConfig()) {
				t.Errorf("%s = %d: refused, but the configuration changed", s.Name, c.v)
			}
		}
		cfg = DefaultConfig()
		if err := Set(&cfg, s.Name, "ten"); err == nil || !strings.Contains(err.Error(), `"ten" is not a whole number`) {
			t.Errorf("%s = ten: %v", s.Name, err)
		}
	}
}

func sameConfig(a, b Config) bool {
	a.Local, b.Local, a.Log, b.Log = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// The messages the documentation and the CLI show.
func TestSysctlMessages(t *testing.T) {
	cfg := DefaultConfig()
	for _, c := range []struct{ name, value, want string }{
		{"net.inet.tcp.maxtcptw", "10", "net.inet.tcp.maxtcptw: 10 is below the minimum 32 (0 means automatic)"},
		{"net.inet.tcp.msl", "0", "net.inet.tcp.msl: 0 is below the minimum 1 ms"},
		{"net.inet.tcp.msl", "86400001", "net.inet.tcp.msl: 86400001 is above the maximum 86400000 ms"},
		{"net.inet.tcp.ecn.enable", "3", "net.inet.tcp.ecn.enable: 3 is above the maximum 2"},
		{"net.inet.tcp.cc.dctcp.shift_g", "11", "net.inet.tcp.cc.dctcp.shift_g: 11 is above the maximum 10"},
		{"net.inet.tcp.cc.algorithm", "vegas", `net.inet.tcp.cc.algorithm: "vegas" is not one of cubic, dctcp, newreno`},
		{"net.inet.tcp.pcbcount", "3", "net.inet.tcp.pcbcount: read-only"},
		{"net.inet.tcp.nosuch", "1", "net.inet.tcp.nosuch: no such tunable"},
		{"net.inet.tcp.keepcnt", "1.5", `net.inet.tcp.keepcnt: "1.5" is not a whole number (probes)`},
	} {
		if err := Set(&cfg, c.name, c.value); err == nil || err.Error() != c.want {
			t.Errorf("%s=%s: %v, want %q", c.name, c.value, err, c.want)
		}
	}
	if !sameConfig(cfg, DefaultConfig()) {
		t.Error("refused values changed the configuration")
	}
	// Units: milliseconds and seconds in, nanoseconds in Config; short names.
	if err := Set(&cfg, "msl", "5000"); err != nil || cfg.MSL != 5e9 {
		t.Fatalf("msl=5000: %v, MSL %d ns", err, cfg.MSL)
	}
	if err := Set(&cfg, "net.inet.tcp.isn_reseed_interval", "3600"); err != nil || cfg.ISNReseedInterval != 3600e9 {
		t.Fatalf("isn_reseed_interval=3600: %v, %d ns", err, cfg.ISNReseedInterval)
	}
	if err := Set(&cfg, "maxtcptw", "0"); err != nil || cfg.MaxTCPTW != 0 {
		t.Fatalf("maxtcptw=0 (automatic): %v", err)
	}
	if v, _ := Get(&cfg, "maxtcptw"); v != strconv.Itoa(MaxTCPTWAuto()) {
		t.Fatalf("automatic maxtcptw reads %s, want %d", v, MaxTCPTWAuto())
	}
	if err := Set(&cfg, "cc.algorithm", "newreno"); err != nil || cfg.CCAlgorithm != "newreno" {
		t.Fatalf("cc.algorithm=newreno: %v", err)
	}
	// maxtcptw's maximum scales with the cores sharing it.
	cfg.Cores = 4
	if err := Set(&cfg, "maxtcptw", strconv.Itoa(4*(1<<25))); err != nil {
		t.Fatalf("maxtcptw at 4 cores' maximum: %v", err)
	}
}

// pcbcount is the shard's live connections; tcbhashsize a constant.
func TestSysctlLiveValues(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	if v, _ := p.s.Sysctl("net.inet.tcp.pcbcount"); v != "0" {
		t.Fatalf("pcbcount %s before any connection", v)
	}
	p.open()
	if v, _ := p.s.Sysctl("net.inet.tcp.pcbcount"); v != "1" {
		t.Fatalf("pcbcount %s with one connection", v)
	}
	if v, _ := p.s.Sysctl("tcbhashsize"); v != strconv.Itoa(TCBHashSize) {
		t.Fatalf("tcbhashsize %s", v)
	}
	if v, _ := p.s.Sysctl("msl"); v != "30000" {
		t.Fatalf("msl %s", v)
	}
}
