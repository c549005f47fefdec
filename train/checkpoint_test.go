package train

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckpointRoundTripAndDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.bin")
	c := &Checkpoint{Epoch: 3, Step: 1404, Config: "resnet20 mnist lr=0.1", Tensors: map[string][]float32{
		"conv1.weight": {1, -2, 3.5}, "bn1.running_var": {0.25}, "velocity/conv1.weight": {0, 0, 1e-9}, "empty": {},
	}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 3 || got.Step != 1404 || got.Config != c.Config || len(got.Tensors) != 4 {
		t.Fatalf("loaded %+v", got)
	}
	for name, v := range c.Tensors {
		if !slices.Equal(got.Tensors[name], v) {
			t.Errorf("%s = %v, want %v", name, got.Tensors[name], v)
		}
	}
	data, _ := os.ReadFile(path)
	flipped := slices.Clone(data)
	flipped[len(flipped)/2] ^= 1
	for name, damaged := range map[string][]byte{
		"truncated": data[:len(data)-7],
		"flipped":   flipped,
		"other":     []byte("PK\x03\x04 a zip file, not a checkpoint"),
		"empty":     nil,
	} {
		bad := filepath.Join(dir, name)
		os.WriteFile(bad, damaged, 0o644)
		if _, err := LoadCheckpoint(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}
