package sinkcmp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// receiver is one receiver under test, as named in --receivers:
// "pollstack" or "testpmd", optionally followed by a colon and overrides of
// the global flags joined by '+': "pollstack:spin=0", "testpmd:busy=0",
// "pollstack:spin=0+busy=64". pollstack takes spin (idle spin, a duration)
// and busy (busy poll budget); testpmd takes busy (the PMD's busy_budget).
type Receiver struct {
	Name string `json:"name"` // as given
	Kind string `json:"kind"` // receiverSink or receiverTestpmd
	// pollstack
	IdleSpin time.Duration `json:"idle_spin_ns,omitempty"`
	BusyPoll int           `json:"busy_poll,omitempty"`
	// testpmd: the PMD's busy_budget; < 0 leaves its default
	BusyBudget int `json:"busy_budget,omitempty"`
}

// parseReceivers parses a comma-separated list of receiver specs, taking
// unset fields from o.
func ParseReceivers(list string, o Options) ([]Receiver, error) {
	var rs []Receiver
	seen := map[string]bool{}
	for _, spec := range strings.Split(list, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		kind, opts, _ := strings.Cut(spec, ":")
		r := Receiver{Name: spec, Kind: kind, IdleSpin: o.IdleSpin, BusyPoll: o.BusyPoll, BusyBudget: o.TestpmdBusyBudget}
		if kind != ReceiverSink && kind != ReceiverTestpmd {
			return nil, fmt.Errorf("receiver %q: want %s or %s", spec, ReceiverSink, ReceiverTestpmd)
		}
		if seen[spec] {
			return nil, fmt.Errorf("receiver %q named twice", spec)
		}
		seen[spec] = true
		for _, kv := range strings.Split(opts, "+") {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("receiver %q: %q is not key=value", spec, kv)
			}
			var err error
			switch {
			case kind == ReceiverSink && k == "spin":
				r.IdleSpin, err = time.ParseDuration(v)
				if err == nil && r.IdleSpin < 0 {
					err = fmt.Errorf("negative")
				}
			case kind == ReceiverSink && k == "busy":
				r.BusyPoll, err = strconv.Atoi(v)
				if err == nil && r.BusyPoll < 0 {
					err = fmt.Errorf("negative")
				}
			case kind == ReceiverTestpmd && k == "busy":
				r.BusyBudget, err = strconv.Atoi(v)
			default:
				err = fmt.Errorf("unknown option for %s", kind)
			}
			if err != nil {
				return nil, fmt.Errorf("receiver %q: %s: %v", spec, kv, err)
			}
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no receivers in %q", list)
	}
	return rs, nil
}

// String describes the receiver's settings.
func (r Receiver) String() string {
	if r.Kind == ReceiverSink {
		return fmt.Sprintf("%s: idle spin %v, busy poll budget %d", r.Name, r.IdleSpin, r.BusyPoll)
	}
	bb := "PMD default"
	if r.BusyBudget >= 0 {
		bb = strconv.Itoa(r.BusyBudget)
	}
	return fmt.Sprintf("%s: busy_budget %s", r.Name, bb)
}
