//go:build !unix

package imagebench

import (
	"os"
	"time"
)

func processCPU() (time.Duration, bool) { return 0, false }

func exitUsage(*os.ProcessState) (time.Duration, uint64) { return 0, 0 }
