package main

import (
	"fmt"
	"io"
	"strings"
)

// progressBar draws one line on stderr, redrawn in place with \r as the
// run's progress events arrive: scripts reading stdout never see it.
type progressBar struct {
	w     io.Writer
	on    bool
	drawn bool
	last  string
	// status is the last status seen; progress events carry none.
	status string
}

const barWidth = 30

func (p *progressBar) draw(status string, progress int) {
	if !p.on {
		return
	}
	if status == "" {
		status = p.status
	}
	p.status = status
	progress = min(max(progress, 0), 100)
	filled := progress * barWidth / 100
	line := fmt.Sprintf("\r[%s%s] %3d%% %-9s", strings.Repeat("#", filled), strings.Repeat(" ", barWidth-filled), progress, status)
	if line == p.last {
		return
	}
	p.last, p.drawn = line, true
	fmt.Fprint(p.w, line)
}

// done ends the bar's line.
func (p *progressBar) done() {
	if p.on && p.drawn {
		fmt.Fprintln(p.w)
	}
}
