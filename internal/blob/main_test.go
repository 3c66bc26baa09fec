package blob_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind, such as
// an S3 client's idle connections that Close should have released.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
