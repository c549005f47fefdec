//go:build !race

package train

// raceEnabled says the test binary is built with the race detector.
const raceEnabled = false
