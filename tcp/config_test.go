package tcp

import (
	"strings"
	"testing"
	"time"
)

// Config.Validate refuses durations the timers cannot represent (the wheel
// ticks every millisecond) where zero or less makes no sense, and takes
// the smallest they can.
func TestConfigValidateDurations(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string // a part of the error; "" for none
	}{
		{"defaults", func(c *Config) {}, ""},
		{"msl 1 ms", func(c *Config) { c.MSL = time.Millisecond }, ""},
		{"msl under 1 ms", func(c *Config) { c.MSL = time.Millisecond - 1 }, "msl 999.999µs: want 1ms.."},
		{"msl 30 ns (a count taken for seconds)", func(c *Config) { c.MSL = 30 }, "msl 30ns"},
		{"msl zero", func(c *Config) { c.MSL = 0 }, "msl 0s"},
		{"msl one day", func(c *Config) { c.MSL = MaxMSL }, ""},
		{"msl over one day", func(c *Config) { c.MSL = MaxMSL + time.Millisecond }, "msl 24h0m0.001s"},
		{"rexmit_initial 1 ms", func(c *Config) { c.RexmitInitial = time.Millisecond }, ""},
		{"rexmit_initial under 1 ms", func(c *Config) { c.RexmitInitial = 500 * time.Microsecond }, "rexmit_initial 500µs"},
		{"rexmit_min and rexmit_slop zero", func(c *Config) { c.RexmitMin, c.RexmitSlop = 0, 0 }, ""},
		{"rexmit_min negative", func(c *Config) { c.RexmitMin = -time.Millisecond }, "rexmit_min -1ms"},
		{"rexmit_slop negative", func(c *Config) { c.RexmitSlop = -1 }, "rexmit_slop -1ns"},
		{"delacktime 1 ms", func(c *Config) { c.DelAckTime = time.Millisecond }, ""},
		{"delacktime under 1 ms", func(c *Config) { c.DelAckTime = 40 }, "delacktime 40ns"},
		{"keepinit under 1 ms", func(c *Config) { c.KeepInit = 75 }, "keepinit 75ns"},
		{"keepidle under 1 ms", func(c *Config) { c.KeepIdle = 0 }, "keepidle 0s"},
		{"keepintvl under 1 ms", func(c *Config) { c.KeepIntvl = time.Microsecond }, "keepintvl 1µs"},
		{"keep times 1 ms", func(c *Config) {
			c.KeepInit, c.KeepIdle, c.KeepIntvl = time.Millisecond, time.Millisecond, time.Millisecond
		}, ""},
		{"finwait2_timeout under 1 ms", func(c *Config) { c.FinWait2Timeout = 60 }, "finwait2_timeout 60ns"},
		{"finwait2_timeout 1 ms", func(c *Config) { c.FinWait2Timeout = time.Millisecond }, ""},
		{"isn_reseed_interval negative", func(c *Config) { c.ISNReseedInterval = -time.Second }, "isn_reseed_interval -1s"},
		{"isn_reseed_interval zero (never)", func(c *Config) { c.ISNReseedInterval = 0 }, ""},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q, want it to say %q", tc.name, err, tc.want)
		}
	}
}
