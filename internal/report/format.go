package report

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Thousands formats n with comma separators, as the reports and the
// command line print counts: 1234567 is "1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Plural picks the word for n things: one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteJSON saves v as indented JSON at path, whole or not at all, so
// that an interrupted run never leaves a half-written results file.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return graph.WriteFileAtomic(path, append(b, '\n'))
}
