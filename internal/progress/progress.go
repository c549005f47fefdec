// Package progress reports the progress of long work: a bar redrawn in
// place with its rate and ETA when writing to a terminal, and plain lines
// at a bounded rate otherwise (logs, CI), so that a run is readable in both.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Bar tracks one piece of work of known size.
type Bar struct {
	w        io.Writer
	label    string
	unit     string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	terminal bool
	every    time.Duration
	now      func() time.Time
}

// New starts a bar for total units (e.g. images) of work written to w.
// A terminal gets a redrawn bar; anything else a line at most every 10 s.
func New(w io.Writer, label string, total int64, unit string) *Bar {
	b := &Bar{w: w, label: label, unit: unit, total: total, terminal: IsTerminal(w), every: 10 * time.Second, now: time.Now}
	b.start = b.now()
	b.last = b.start
	return b
}

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Add records n more units done and redraws when due. extra is shown after
// the rate (e.g. "loss 0.312").
func (b *Bar) Add(n int64, extra string) {
	b.done += n
	now := b.now()
	due := now.Sub(b.last) >= b.every
	if b.terminal {
		due = now.Sub(b.last) >= 100*time.Millisecond
	}
	if due || b.done >= b.total {
		b.last = now
		b.draw(extra, b.done >= b.total)
	}
}

// Rate returns units per second so far.
func (b *Bar) Rate() float64 {
	elapsed := b.now().Sub(b.start).Seconds()
	if elapsed <= 0 {
		return 0
	}
	return float64(b.done) / elapsed
}

func (b *Bar) draw(extra string, finished bool) {
	rate := b.Rate()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100 * float64(b.done) / float64(max(b.total, 1))
	status := fmt.Sprintf("%s %d/%d %s (%.0f%%) %.1f %s/s ETA %s", b.label, b.done, b.total, b.unit, pct, rate, b.unit, eta)
	if extra != "" {
		status += " " + extra
	}
	if !b.terminal {
		fmt.Fprintln(b.w, status)
		return
	}
	const width = 24
	filled := int(float64(width) * float64(b.done) / float64(max(b.total, 1)))
	bar := "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "] "
	end := ""
	if finished {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r\033[K%s%s", fitLine(bar, status, columns(b.w)), end)
}

// fitLine joins bar and status into a line shorter than the terminal's
// cols columns, dropping the bar and then the end of the status where they
// do not fit: a line as wide as the terminal wraps, and \r then redraws
// only its last row, so the bar would scroll instead of staying in place.
func fitLine(bar, status string, cols int) string {
	switch n := utf8.RuneCountInString(status); {
	case utf8.RuneCountInString(bar)+n < cols:
		return bar + status
	case n < cols:
		return status
	}
	return string([]rune(status)[:max(cols-1, 0)])
}

// columns is the width of the terminal w writes to: the terminal's own,
// else $COLUMNS, else 80.
func columns(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
