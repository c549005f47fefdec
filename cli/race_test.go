//go:build race

package cli

// raceEnabled says the test binary is built with the race detector.
const raceEnabled = true
