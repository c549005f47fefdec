package cmdline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Dims parses a size such as "3x224x224" given to the flag named flag;
// want is the number of sizes expected and form an example, both for
// errors.
func Dims(flag, s string, want int, form string) ([]int64, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "x")
	if len(parts) != want {
		return nil, fmt.Errorf("--%s %q: expected %d sizes like %s, found %d", flag, s, want, form, len(parts))
	}
	dims := make([]int64, want)
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: expected positive integers like %s, found %q", flag, s, form, p)
		}
		dims[i] = n
	}
	return dims, nil
}

// Ints reads a comma-separated list of positive integers; an empty s is
// an empty list.
func Ints(flag, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: expected positive integers like 30,60,90, found %q", flag, s, part)
		}
		out = append(out, n)
	}
	return out, nil
}

// Floats reads a comma-separated list of finite numbers; want > 0 asks
// for exactly that many.
func Floats(flag, s string, want int) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--%s %q: expected comma-separated numbers, found %q", flag, s, part)
		}
		out = append(out, v)
	}
	if want > 0 && len(out) != want {
		return nil, fmt.Errorf("--%s %q: expected %d numbers, found %d", flag, s, want, len(out))
	}
	return out, nil
}
