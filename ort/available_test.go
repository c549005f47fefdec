package ort

import (
	"slices"
	"testing"
)

// TestAvailableProviders lists the providers of the installed library,
// which every build of ONNX Runtime runs on the CPU with.
func TestAvailableProviders(t *testing.T) {
	requireORT(t)
	got, err := AvailableProviders()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "CPUExecutionProvider") {
		t.Errorf("AvailableProviders = %q, want CPUExecutionProvider among them", got)
	}
	t.Logf("%s (%s): %q", LoadedLibrary(), Version(), got)
}
