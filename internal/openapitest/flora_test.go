package openapitest

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOursAcceptsWhatFloraAccepts compares the two documents on many
// generated run-create bodies that FLORA's document accepts: each must be
// accepted by ours too, unless it is one of the known, deliberate
// differences (knownStricter). The app suite then sends such requests to a
// real server (TestFloraDocumentRequestsAccepted).
func TestOursAcceptsWhatFloraAccepts(t *testing.T) {
	ours, err := Ours()
	require.NoError(t, err)
	flora, err := Flora()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		alphabet := []string{"a", "Z", "0", "-", "_", " ", "é", "猫", "/", ":", "."}
		n := 1 + rng.IntN(12)
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	floraValid, compared := 0, 0
	for range 2000 {
		body := map[string]any{"mode": []string{"async", "stream"}[rng.IntN(2)]}
		var inputs []map[string]any
		for range 1 + rng.IntN(4) {
			in := map[string]any{"id": str(), "type": []string{"text", "imageUrl", "videoUrl"}[rng.IntN(3)], "value": str()}
			if rng.IntN(8) == 0 {
				in["note"] = str() // FLORA's items allow other fields
			}
			inputs = append(inputs, in)
		}
		body["inputs"] = inputs
		if rng.IntN(2) == 0 {
			body["callback_url"] = "https://hooks.example.com/" + strings.ReplaceAll(str(), " ", "")
		}
		if rng.IntN(2) == 0 {
			body["idempotency_key"] = strings.Repeat(str(), 1+rng.IntN(40))
		}
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		x := exchangeFor(t, http.MethodPost, "/api/v1/techniques/"+strings.ReplaceAll(str(), "/", "")+"x/runs", raw)
		froute, fparams, err := flora.Route(x.Req)
		if err != nil {
			continue // a slug FLORA's path pattern refuses (a space)
		}
		if flora.ValidateRequest(x, froute, fparams) != nil {
			continue
		}
		floraValid++
		if knownStricter(x) {
			continue
		}
		compared++
		oroute, oparams, err := ours.Route(x.Req)
		require.NoError(t, err)
		require.NoError(t, ours.ValidateRequest(x, oroute, oparams), "FLORA's document accepts %s", raw)
	}
	require.Greater(t, compared, 500, "too few generated bodies were compared (%d valid for FLORA)", floraValid)
}

func exchangeFor(t *testing.T, method, path string, body []byte) *Exchange {
	t.Helper()
	req, err := http.NewRequest(method, "http://florad.test"+path, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk_live_x")
	return &Exchange{Req: req, ReqBody: body}
}
