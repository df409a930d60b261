package mono

import "time"

// Time is an instant on the engine's monotonic clock, in nanoseconds since
// the clock's origin. The zero Time is the origin itself; code that keeps
// "no instant" as 0 (an unarmed timer) relies on no real reading being 0.
type Time int64

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t > u }

// Div returns how many whole periods d lie between the origin and t,
// rounded towards minus infinity (so that an instant before the origin falls
// in period -1, not 0). d must be positive.
func (t Time) Div(d time.Duration) int64 {
	q := int64(t) / int64(d)
	if int64(t)%int64(d) < 0 {
		q--
	}
	return q
}

// Ceil returns the first multiple of d (counted from the origin) at or
// after t. d must be positive.
func (t Time) Ceil(d time.Duration) Time {
	if r := int64(t) % int64(d); r > 0 {
		return t + Time(int64(d)-r)
	} else if r < 0 {
		return t - Time(r)
	}
	return t
}

// String formats t as the duration since the origin ("1.5s").
func (t Time) String() string { return time.Duration(t).String() }
