package api

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/florad/florad/internal/validation"
)

// timeCursor is where a newest-first page ended: the last item's creation
// time and id, the order every such list sorts by. Clients get it opaque.
type timeCursor struct {
	CreatedAt int64  `json:"t"`
	ID        string `json:"i"`
}

// newestFirstPage reads the limit (1-100, 20 by default) and cursor of a
// newest-first list, adding what is wrong to v.
func newestFirstPage(q url.Values, v *validation.Error) (limit int, after timeCursor) {
	limit = 20
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			v.Add("limit", "must be an integer from 1 to 100")
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &after) != nil || after.ID == "" {
			v.Add("cursor", "is not a cursor this API returned")
		}
	}
	return limit, after
}

// nextCursor is the cursor of the page after the item (createdAt, id).
func nextCursor(createdAt int64, id string) *string {
	b, _ := json.Marshal(timeCursor{CreatedAt: createdAt, ID: id})
	c := base64.RawURLEncoding.EncodeToString(b)
	return &c
}
