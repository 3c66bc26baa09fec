package processor_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
)

func TestAsError(t *testing.T) {
	t.Parallel()

	// Anything unclassified is worth one more try: a full disk or a dropped
	// connection usually passes.
	plain := errors.New("disk full")
	pe := processor.AsError(plain)
	require.Equal(t, processor.CodeInternalError, pe.Code)
	require.True(t, pe.Transient)
	require.ErrorIs(t, pe, plain)

	perm := processor.Permanent(processor.CodeInputInvalid, "Bad image.", nil)
	require.Same(t, perm, processor.AsError(fmt.Errorf("error in step a: %w", perm)))
	require.Equal(t, "input_invalid: Bad image.", perm.Error())

	tr := processor.Transient(processor.CodeProviderTimeout, "Slow.", plain)
	require.True(t, processor.AsError(tr).Transient)
	require.Equal(t, "provider_timeout: Slow.: disk full", tr.Error())
}
