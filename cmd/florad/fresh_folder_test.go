package main

import (
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFreshFolderFromSeveralProcesses starts several florad processes on
// the same fresh SQLite data folder at the same moment, round after round:
// each creates and migrates the database (ours and River's), and every one
// must succeed. Without the migration lock 3 starts in 10 failed with
// "table already exists" or River's "no such index".
func TestFreshFolderFromSeveralProcesses(t *testing.T) {
	t.Parallel()

	const rounds, procs = 3, 4
	for range rounds {
		data := t.TempDir()
		started := make([]*childProc, procs)
		outs := make([]*cliBuffer, procs)
		for i := range procs {
			outs[i] = &cliBuffer{}
			cmd := exec.Command(floradBin, "workspace", "list", "--data", data, "--json")
			cmd.Env = cliEnv()
			cmd.Stdout, cmd.Stderr = outs[i], outs[i]
			started[i] = startChild(t, cmd, outs[i].String)
		}
		for i, p := range started {
			select {
			case <-p.done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("process %d still running after 2 minutes", i)
			}
			require.NoError(t, p.err, "process %d: %s", i, outs[i].String())
			var list struct {
				Workspaces []any `json:"workspaces"`
			}
			require.NoError(t, json.Unmarshal([]byte(outs[i].String()), &list), outs[i].String())
			require.NotNil(t, list.Workspaces)
			require.Empty(t, list.Workspaces)
		}
	}
}
