//go:build !linux

package processor

import "os/exec"

// configureKill keeps exec.CommandContext's default outside Linux: the
// context's end kills the child itself (not a process group).
func configureKill(cmd *exec.Cmd) {}
