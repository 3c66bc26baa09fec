// Package ident makes the prefixed identifiers the API hands out (run_,
// ws_, key_, req_, whd_). They sort by creation time, which keeps inserts at
// the end of indexes and gives list endpoints a natural order, and carry 80
// random bits, so they cannot be guessed.
package ident

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// lowercase Crockford-like alphabet in ascending ASCII order, so that string
// order equals numeric order.
var encoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns prefix followed by 26 characters: 48 bits of milliseconds since
// the epoch, then 80 random bits.
func New(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand never fails on supported platforms
	return prefix + encoding.EncodeToString(b[:])
}

// Random returns prefix followed by n random bytes in the same alphabet; for
// secrets, which must not reveal when they were made.
func Random(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + encoding.EncodeToString(b)
}
