package api

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as a
// stream handler still running after its request ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
