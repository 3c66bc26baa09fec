package validation

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorKeepsTheFirstMaxFields(t *testing.T) {
	t.Parallel()

	e := &Error{}
	require.NoError(t, e.Err())
	for i := range MaxFields + 1000 {
		e.Add("f"+strconv.Itoa(i), "is wrong")
	}
	require.Len(t, e.Fields, MaxFields)
	require.Equal(t, "f0", e.Fields[0].Name)
	require.Equal(t, "f"+strconv.Itoa(MaxFields-1), e.Fields[MaxFields-1].Name)
	require.Equal(t, 1000, e.Omitted)
	require.Error(t, e.Err())
	require.Contains(t, e.Error(), "f0: is wrong; ")
	require.Contains(t, e.Error(), "; and 1000 more")
}

func TestErrorUnderTheCap(t *testing.T) {
	t.Parallel()

	e := New("a", "is required")
	e.Add("b", "must be a string")
	require.Equal(t, 0, e.Omitted)
	require.Equal(t, "a: is required; b: must be a string", e.Error())
}
