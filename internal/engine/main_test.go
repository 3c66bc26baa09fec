package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a step
// still running after Execute returned would be one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
