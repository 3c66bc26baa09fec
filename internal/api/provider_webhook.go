package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/florad/florad/internal/provider"
)

// replicateWebhook serves POST /provider-webhooks/replicate: a
// Replicate prediction completed. The signature is checked on the raw
// body, and the run waiting on that prediction is woken to poll it now;
// the poll, not the webhook's body, is what the run records.
func (s *Server) replicateWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.ReplicateWebhookSecret == "" {
		return errNotFound("No route matches " + r.Method + " " + r.URL.Path + ".")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errInvalidJSON("The webhook body is too large.")
		}
		return err
	}
	id, err := provider.VerifyReplicateWebhook(s.ReplicateWebhookSecret, r.Header, body, time.Now())
	if err != nil {
		return errWebhookSignature()
	}
	if err := s.Runs.WakeCall(r.Context(), provider.ProviderReplicate, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
