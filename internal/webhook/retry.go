package webhook

import (
	"hash/fnv"
	"strconv"
	"time"
)

// ScheduleDefault is the wait before each retry: FLORA's 10 s, 1 min and
// 5 min, then 30 min, 2 h, 6 h, 12 h and 24 h. With the first attempt that
// makes nine attempts over about 45 hours. A function, so that nobody can
// change it for everyone.
func ScheduleDefault() []time.Duration {
	return []time.Duration{
		10 * time.Second, time.Minute, 5 * time.Minute,
		30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	}
}

// MaxAttemptsDefault is the number of attempts ScheduleDefault allows.
const MaxAttemptsDefault = 9

// JitterDefault spreads each wait by ±10%, so that deliveries that failed
// together (a receiver's outage) do not all come back at the same instant.
const JitterDefault = 0.10

// retryDelay is the wait after failed attempt n (1-based) of delivery id:
// the schedule's nth delay, spread by ±jitter. The spread is derived from
// (id, n) rather than drawn at random, so that the worker, which records
// when the next attempt is due, and NextRetry, which schedules it, agree
// without sharing state; different deliveries still spread out. n beyond
// the schedule gets its last delay.
func retryDelay(schedule []time.Duration, jitter float64, id string, n int) time.Duration {
	if len(schedule) == 0 {
		return 0
	}
	base := schedule[min(max(n, 1), len(schedule))-1]
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(n)))
	u := float64(h.Sum64()>>11) / float64(1<<53) // uniform in [0, 1)
	return time.Duration(float64(base) * (1 - jitter + 2*jitter*u))
}
