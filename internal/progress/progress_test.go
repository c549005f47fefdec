package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPlainLines: off a terminal, the bar writes a line when 10 s have
// passed and one at the end, each with count, rate and ETA.
func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	b := New(&out, "epoch 1", 100, "images")
	b.now = func() time.Time { return clock }
	b.start, b.last = clock, clock
	for i := 0; i < 10; i++ {
		clock = clock.Add(3 * time.Second)
		b.Add(10, "loss 1.5")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 2 timed lines and the final one:\n%s", len(lines), out.String())
	}
	if want := "epoch 1 40/100 images (40%) 3.3 images/s ETA 18s loss 1.5"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[2], "epoch 1 100/100 images (100%)") || !strings.Contains(lines[2], "ETA 0s") {
		t.Errorf("last line %q", lines[2])
	}
}

// TestFitLine: a redrawn line stays narrower than the terminal, losing
// the bar first, then the end of its status.
func TestFitLine(t *testing.T) {
	bar := "[====    ] "
	for _, tc := range []struct {
		status string
		cols   int
		want   string
	}{
		{"eval 10/20", 80, "[====    ] eval 10/20"},
		{"eval 10/20", 21, "[====    ] eval 10/20"[11:]},
		{"eval 10/20", 22, "[====    ] eval 10/20"},
		{"eval 10/20 images", 11, "eval 10/20"},
		{"época 1", 6, "época"},
		{"x", 0, ""},
	} {
		got := fitLine(bar, tc.status, tc.cols)
		if got != tc.want {
			t.Errorf("fitLine(%q, %d) = %q, want %q", tc.status, tc.cols, got, tc.want)
		}
		if n := len([]rune(got)); tc.cols > 0 && n >= tc.cols {
			t.Errorf("fitLine(%q, %d): %d runes, as wide as the terminal", tc.status, tc.cols, n)
		}
	}
}
