package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: an
// attempt still in flight after River stopped would be one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
