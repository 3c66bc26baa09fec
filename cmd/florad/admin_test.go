package main

import (
	"strings"
	"testing"
)

// TestUsageListsEveryAdminCommand keeps the help text and the command table
// in step: each row of adminCommands is documented, and each documented
// admin command has a row.
func TestUsageListsEveryAdminCommand(t *testing.T) {
	cmds := adminCommands()
	for name := range cmds {
		if !strings.Contains(usage, "florad "+name+" ") && !strings.Contains(usage, "florad "+name+"\n") {
			t.Errorf("usage does not list %q", name)
		}
	}
	nouns := adminNouns()
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "florad" || !nouns[f[1]] {
			continue
		}
		if _, ok := cmds[f[1]+" "+f[2]]; !ok {
			t.Errorf("usage lists %q, which is not in adminCommands", f[1]+" "+f[2])
		}
	}
}
