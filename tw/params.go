package tw

import "time"

// Defaults and limits.
const (
	// DefaultMSL is msl, the maximum segment lifetime (30 s, FreeBSD's
	// default); TIME_WAIT lasts 2*msl.
	DefaultMSL = 30 * time.Second
	// MaxMSL bounds msl (one day): an entry lives at most two days, well
	// within the 24 days for which RFC 7323 5.5 keeps ts_recent valid, so
	// the table needs no timestamp age.
	MaxMSL = 24 * time.Hour
	// DefaultACKLimit is how many ACKs per second a table sends for rules
	// 2, 3 and 6 (see Decide), as tcp limits its challenge ACKs (RFC 5961 7).
	DefaultACKLimit = 1000
	// MaxLimit is the most entries a table may be asked to keep: the
	// index's 32-bit slots hold a ring position of at most 26 bits, and the
	// ring needs room for tombstones beyond the limit.
	MaxLimit = 1 << 25

	// expiryTick is the resolution of expiry times. An entry expires at the
	// first tick at or after now+2*msl: never early, at most 1 ms late.
	expiryTick = time.Millisecond
)
