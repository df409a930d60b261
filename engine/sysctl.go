package engine

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// sysctlState is the engine's current TCP configuration, as the
// net.inet.tcp tunables change it at run time.
type sysctlState struct {
	mu  sync.Mutex
	cfg *tcp.Config // nil until first used: core 0's shard's
}

// SysctlValue is one tunable as Sysctls reports it.
type SysctlValue struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	Unit        string `json:"unit"`
	ReadOnly    bool   `json:"read_only,omitempty"`
	Description string `json:"description"`
}

// SysctlSetting is one name=value change.
type SysctlSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// errNoTCP is returned by the tunables of an engine without TCP.
var errNoTCP = errors.New("engine: no TCP (the net.inet.tcp tunables need it)")

// current returns the current configuration; e.sysctl.mu is held.
func (e *Engine) current() (*tcp.Config, error) {
	if len(e.cores) == 0 || e.cores[0].tcp == nil {
		return nil, errNoTCP
	}
	if e.sysctl.cfg == nil {
		// Only Reconfigure (under e.sysctl.mu) writes a shard's
		// configuration after New: reading it here races with nothing.
		c := e.cores[0].tcp.Config()
		e.sysctl.cfg = &c
	}
	return e.sysctl.cfg, nil
}

// onCores runs fn on every core: through its loop's Call while the engine
// runs (so only the owning core touches its shard), directly before Start.
// Safe from any goroutine once Start has returned (or before Start, from
// the goroutine that will call it).
func (e *Engine) onCores(fn func(c *Core, now mono.Time) error) error {
	for i, c := range e.cores {
		var err error
		if e.running {
			if cerr := e.loops[i].Call(func(now mono.Time) { err = fn(c, now) }); cerr != nil {
				return fmt.Errorf("engine: core %d: %w", i, cerr)
			}
		} else {
			err = fn(c, 0)
		}
		if err != nil {
			return fmt.Errorf("engine: core %d: %w", i, err)
		}
	}
	return nil
}

// Sysctl returns a net.inet.tcp tunable's value (full name, or the part
// after net.inet.tcp.) in its unit; pcbcount counts the connections of
// every core.
func (e *Engine) Sysctl(name string) (string, error) {
	s, err := tcp.LookupSysctl(name)
	if err != nil {
		return "", err
	}
	e.sysctl.mu.Lock()
	defer e.sysctl.mu.Unlock()
	cfg, err := e.current()
	if err != nil {
		return "", err
	}
	if s.Name == tcp.SysctlPrefix+"pcbcount" {
		n, err := e.pcbcount()
		return strconv.Itoa(n), err
	}
	return tcp.Get(cfg, s.Name)
}

// pcbcount sums the connections of every core; e.sysctl.mu is held.
func (e *Engine) pcbcount() (int, error) {
	total := 0
	err := e.onCores(func(c *Core, _ mono.Time) error {
		total += c.tcp.Conns()
		return nil
	})
	return total, err
}

// Sysctls returns every net.inet.tcp tunable with its value, unit and
// description; nil for an engine without TCP. pcbcount reads "" when a
// core could not be asked (the engine stopped).
func (e *Engine) Sysctls() []SysctlValue {
	e.sysctl.mu.Lock()
	defer e.sysctl.mu.Unlock()
	cfg, err := e.current()
	if err != nil {
		return nil
	}
	var out []SysctlValue
	for _, s := range tcp.Sysctls() {
		v := SysctlValue{Name: s.Name, Unit: s.Unit, ReadOnly: s.ReadOnly, Description: s.Description}
		if s.Name == tcp.SysctlPrefix+"pcbcount" {
			if n, err := e.pcbcount(); err == nil {
				v.Value = strconv.Itoa(n)
			}
		} else {
			v.Value, _ = tcp.Get(cfg, s.Name)
		}
		out = append(out, v)
	}
	return out
}

// SetSysctl sets a net.inet.tcp tunable on every core. The value is
// checked once, on a copy of the current configuration; a bad name or
// value, or a read-only tunable, is refused with one line and changes
// nothing. See tcp.Shard.Reconfigure for what a change does to existing
// connections and TIME_WAIT entries.
func (e *Engine) SetSysctl(name, value string) error {
	return e.SetSysctls([]SysctlSetting{{Name: name, Value: value}})
}

// SetSysctls applies several settings at once, in order: all of them or,
// when one is refused, none.
func (e *Engine) SetSysctls(settings []SysctlSetting) error {
	e.sysctl.mu.Lock()
	defer e.sysctl.mu.Unlock()
	cur, err := e.current()
	if err != nil {
		return err
	}
	next := *cur
	for _, s := range settings {
		if err := tcp.Set(&next, s.Name, s.Value); err != nil {
			return err
		}
	}
	err = e.onCores(func(c *Core, now mono.Time) error { return c.tcp.Reconfigure(next) })
	// Cores that took the change keep it; the next change is checked
	// against what core 0 would have.
	*cur = next
	return err
}
