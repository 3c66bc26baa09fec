package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/webhook"
)

func TestScheduleDefault(t *testing.T) {
	t.Parallel()
	s := webhook.ScheduleDefault()
	require.Equal(t, []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}, s)
	require.Equal(t, len(s)+1, webhook.MaxAttemptsDefault)
	opts := webhook.DeliverArgs{}.InsertOpts()
	require.Equal(t, webhook.QueueWebhooks, opts.Queue)
	require.Equal(t, webhook.MaxAttemptsDefault, opts.MaxAttempts)

	var total time.Duration
	for _, d := range s {
		total += d
	}
	require.Greater(t, total, 44*time.Hour, "retried for at least a day, about 45 hours in all")
	require.Less(t, total, 46*time.Hour)
}

// NextRetry follows the schedule within ±10% and spreads deliveries.
func TestNextRetryJitter(t *testing.T) {
	t.Parallel()
	w := &webhook.Deliverer{}
	s := webhook.ScheduleDefault()
	for attempt := 1; attempt <= len(s); attempt++ {
		base := s[attempt-1]
		seen := map[time.Duration]bool{}
		for i := range 50 {
			job := &river.Job[webhook.DeliverArgs]{
				JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: webhook.MaxAttemptsDefault},
				Args:   webhook.DeliverArgs{DeliveryID: fmt.Sprintf("whd_%d", i)},
			}
			before := time.Now()
			next := w.NextRetry(job)
			delay := next.Sub(before)
			require.GreaterOrEqual(t, delay, time.Duration(float64(base)*0.9), "attempt %d", attempt)
			require.LessOrEqual(t, delay, time.Duration(float64(base)*1.1)+time.Second, "attempt %d", attempt)
			seen[delay.Round(base/1000)] = true
		}
		require.Greater(t, len(seen), 10, "attempt %d: deliveries that failed together come back apart", attempt)
	}
}
