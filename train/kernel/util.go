package kernel

import "fmt"

// checkLen panics unless s has n elements.
func checkLen[T any](fn, name string, s []T, n int) {
	if len(s) != n {
		panic(fmt.Sprintf("kernel.%s: %s has %d elements; expected %d", fn, name, len(s), n))
	}
}

// fill sets every element of s to v.
func fill[T Float](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// sumOf returns the sum of s, accumulated in four lanes so that the loop
// is not one long dependency chain.
func sumOf[T Float](s []T) T {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a0 += s[i]
		a1 += s[i+1]
		a2 += s[i+2]
		a3 += s[i+3]
	}
	for ; i < len(s); i++ {
		a0 += s[i]
	}
	return (a0 + a1) + (a2 + a3)
}
