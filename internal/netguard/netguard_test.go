package netguard

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind, such as
// a hanging handler or a connection the client kept open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
