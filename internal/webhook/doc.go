// Package webhook delivers the event that ends a run to the run's
// callback_url: signed, retried, recorded and redeliverable.
//
// When a run with a callback URL ends, EnqueueTx (called by run.FinishTx,
// in the transaction that ends the run) writes a delivery row holding the
// exact body bytes and inserts its River job (DeliverArgs) in the same
// transaction: the event is sent if and only if the run's end committed,
// and a unique (run, event type) index keeps it to exactly one event per
// run.
//
// The Deliverer works those jobs on their own River queue (QueueWebhooks),
// so receivers that are slow or down never delay runs. Each attempt POSTs
// the stored body through the SSRF-guarded client (no redirects followed),
// signed with Sign at the moment it is sent, and is recorded with its time,
// status code, latency and error. Any 2xx ends the delivery as succeeded;
// 410 Gone ends it as failed at once; anything else (3xx included) is
// retried on ScheduleDefault with ±10% jitter, nine attempts over about 45
// hours, always with the same bytes and the same whd_ id.
//
// Service lists a workspace's deliveries, redelivers one, and rotates a
// workspace's signing secret with an overlap during which both the old and
// the new secret sign (two v1= values in Flora-Signature).
package webhook
