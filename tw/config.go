package tw

import (
	"fmt"
	"time"
)

// Config configures a Table.
type Config struct {
	// Limit is the most entries the table keeps (the core's share of
	// maxtcptw); when it is full, Insert recycles the oldest entry.
	Limit int
	// MSL is msl; an entry lives 2*MSL.
	MSL time.Duration
	// ACKLimit is how many ACKs per second Input may ask for under rules
	// 2, 3 and 6; 0 means DefaultACKLimit, a negative value no limit.
	ACKLimit int
	// Reserve is how many entries the first Insert of each address family
	// makes room for at once (at most Limit). Beyond it the ring grows by half and the index is
	// rebuilt, which stalls the core for about 100 ns per entry once the
	// table outgrows the CPU caches: reserve what the table will hold.
	Reserve int
}

// Validate checks the configuration's limits.
func (c *Config) Validate() error {
	if err := checkLimit(c.Limit); err != nil {
		return err
	}
	switch {
	case c.MSL <= 0 || c.MSL > MaxMSL:
		return fmt.Errorf("tw: msl %v: want more than 0, at most %v", c.MSL, MaxMSL)
	case c.Reserve < 0:
		return fmt.Errorf("tw: reserve %d: want at least 0", c.Reserve)
	}
	return nil
}

// checkLimit checks a table's limit (Config.Limit, SetLimit).
func checkLimit(n int) error {
	if n < 1 || n > MaxLimit {
		return fmt.Errorf("tw: limit %d: want 1..%d", n, MaxLimit)
	}
	return nil
}
