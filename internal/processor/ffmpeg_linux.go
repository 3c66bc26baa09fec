package processor

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// configureKill puts the child in its own process group and makes the
// context's end kill the whole group, so anything ffmpeg started dies with
// it. Pdeathsig kills the child if florad itself dies (a crash or SIGKILL):
// the run resumes elsewhere and must not race an orphaned encoder. (Linux
// sends it when the thread that started the child exits; Go's runtime only
// retires threads a goroutine locked and never unlocked, which florad does
// not do.)
func configureKill(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
