package tcp

import "errors"

// Reconfigure applies a new configuration to a running shard, on its
// core. It is checked first (Validate); on error nothing changes. What
// each tunable does to what already exists:
//
//   - connections made afterwards take every new value; existing ones keep
//     what they took when they were made (buffers, MSS, initial window,
//     congestion control, timestamp offset), and read the shard's current
//     value for what it decides later (timers armed afterwards, delayed
//     ACKs, RST and SYN rules, SACK and reassembly limits; see
//     docs/tunables.md);
//   - msl applies to TIME_WAIT entries made (or re-armed) afterwards;
//     existing entries keep their expiry;
//   - maxtcptw changes the core's TIME_WAIT limit at once: when the table
//     holds more than the new limit its oldest entries are recycled
//     (tw_recycled);
//   - cc.algorithm is the congestion control of new connections;
//   - isn_reseed_interval restarts the ISN key schedule.
//
// The ISN key cannot change: TIME_WAIT entries and SYN cookies depend on it.
func (s *Shard) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.ISNKey != s.cfg.ISNKey || cfg.TSKey != s.cfg.TSKey || cfg.TSBase != s.cfg.TSBase {
		return errors.New("tcp: the ISN and timestamp keys and clock cannot change while the shard runs")
	}
	cc, err := LookupCongestionControl(cfg.CCAlgorithm)
	if err != nil {
		return err
	}
	if err := s.tw.SetLimit(cfg.TimeWaitLimit()); err != nil {
		return err
	}
	if err := s.tw.SetMSL(cfg.MSL); err != nil {
		_ = s.tw.SetLimit(s.cfg.TimeWaitLimit()) // the limit in force, valid
		return err
	}
	if n := s.tw.Trim(); n > 0 {
		s.stats[StatClosed] += uint64(n)
	}
	if cfg.ISNReseedInterval != s.cfg.ISNReseedInterval {
		s.isn.SetReseedInterval(cfg.ISNReseedInterval)
	}
	s.cc = cc
	s.cfg = cfg
	s.pool.limit = cfg.BufferMemory >> chunkShift
	return nil
}
