package train

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// TestCompareSettings: a refused resume names the settings that differ
// and their values on both sides, says when the model differs, and keeps
// the generic message for settings it cannot read; a checkpoint made
// before Threads stayed as asked matches the count the default resolves to.
func TestCompareSettings(t *testing.T) {
	dir := t.TempDir()
	model, other := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "other.onnx")
	os.WriteFile(model, []byte("one model"), 0o644)
	os.WriteFile(other, []byte("another model"), 0o644)
	base := Config{Model: model, Data: DataConfig{Set: "mnist"}, Recipe: Recipe{Batch: 128, LR: 0.1, DecayEpochs: []int{30, 60}, Momentum: 0.9}}
	const ckpt = "run/checkpoint.bin"
	tests := []struct {
		name       string
		checkpoint func(*Config) // the checkpoint's settings, from base
		run        func(*Config) // the run's, from base
		resolved   int           // the run's Threads once resolved
		want       string        // "" when the resume is allowed
		fields     []string
	}{
		{"same", nil, nil, 0, "", nil},
		{"batch and lr", nil, func(c *Config) { c.Recipe.Batch, c.Recipe.LR = 64, 0.2 }, 0,
			"run/checkpoint.bin was made with Recipe.Batch 128, Recipe.LR 0.1; this run asks Recipe.Batch 64, Recipe.LR 0.2", []string{"Recipe.Batch", "Recipe.LR"}},
		{"nested and quoted", func(c *Config) { c.Recipe.Distill.T = 4 }, func(c *Config) { c.Recipe.Teacher = "t.onnx" }, 0,
			`run/checkpoint.bin was made with Recipe.Teacher "", Recipe.Distill.T 4; this run asks Recipe.Teacher "t.onnx", Recipe.Distill.T 0`, []string{"Recipe.Teacher", "Recipe.Distill.T"}},
		{"precision", nil, func(c *Config) { c.Engine.Precision = kernel.BF16 }, 0,
			"run/checkpoint.bin was made with Engine.Precision fp32; this run asks Engine.Precision bf16", []string{"Engine.Precision"}},
		{"empty steps are none", func(c *Config) { c.Recipe.DecayEpochs = []int{} }, func(c *Config) { c.Recipe.DecayEpochs = nil }, 0, "", nil},
		{"model", nil, func(c *Config) { c.Model = other }, 0,
			"run/checkpoint.bin was made from another model than " + other + "; resume with the model it was made from", nil},
		{"model and momentum", nil, func(c *Config) { c.Model, c.Recipe.Momentum = other, 0.5 }, 0,
			"run/checkpoint.bin was made from another model than " + other + " and with Recipe.Momentum 0.9; this run asks Recipe.Momentum 0.5", []string{"Recipe.Momentum"}},
		{"threads as resolved before", func(c *Config) { c.Engine.Threads = 2 }, nil, 2, "", nil},
		{"threads resolved elsewhere", func(c *Config) { c.Engine.Threads = 4 }, nil, 2,
			"run/checkpoint.bin was made with Engine.Threads 4; this run asks Engine.Threads 0", []string{"Engine.Threads"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			was, now := base, base
			if tc.checkpoint != nil {
				tc.checkpoint(&was)
			}
			if tc.run != nil {
				tc.run(&now)
			}
			r := &run{cfg: now, config: settings(now)}
			r.cfg.Engine.Threads = tc.resolved
			err := r.compareSettings(ckpt, settings(was))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SettingsError
			if !errors.As(err, &se) || err.Error() != tc.want {
				t.Fatalf("error %v;\nwant %s", err, tc.want)
			}
			var fields []string
			for _, d := range se.Fields {
				fields = append(fields, d.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %v; want %v", fields, tc.fields)
			}
		})
	}
	r := &run{cfg: base, config: settings(base)}
	want := "run/checkpoint.bin was made with other settings or another model; resume with the same ones"
	if err := r.compareSettings(ckpt, "not JSON"); err == nil || err.Error() != want {
		t.Errorf("unreadable settings: %v; want %q", err, want)
	}
	flags := map[string]string{"Batch": "--batch", "LR": "--lr"}
	se := &SettingsError{Checkpoint: ckpt, Fields: []SettingDiff{{"Batch", "128", "64"}, {"LR", "0.1", "0.2"}}}
	if got := se.Describe(func(f string) string { return flags[f] }); got != "run/checkpoint.bin was made with --batch 128, --lr 0.1; this run asks --batch 64, --lr 0.2" {
		t.Errorf("Describe = %q", got)
	}
}

// TestFlatSettings: settings a checkpoint recorded before Config was
// grouped (testdata/settings-flat.json, written by that version of
// settings) are read into the groups: the same settings resume, and
// others are named by their paths in the groups.
func TestFlatSettings(t *testing.T) {
	flat, err := os.ReadFile("testdata/settings-flat.json")
	if err != nil {
		t.Fatal(err)
	}
	// The flat file's model is the hash of no file's content.
	cfg := Config{Model: filepath.Join(t.TempDir(), "absent.onnx"), Seed: 7, Data: DataConfig{Set: "mnist"},
		Recipe: Recipe{Epochs: 3, Batch: 128, LR: 0.1, DecayEpochs: []int{30, 60}, DecayFactor: 0.1, WeightDecay: 1e-4, Momentum: 0.9,
			Smoothing: SmoothUniform, Distill: Distillation{T: 20, Hard: 1, Soft: 1}},
		Engine: Engine{Threads: 2}}
	was, err := decodeSettings(string(flat))
	if err != nil {
		t.Fatal(err)
	}
	want := cfg
	want.Model, want.Recipe.Epochs, want.Engine.Threads = "e3b0c44298fc1c14", 0, 2
	if !reflect.DeepEqual(was, want) {
		t.Errorf("flat settings read as\n%+v\nwant\n%+v", was, want)
	}
	r := &run{cfg: cfg, config: settings(cfg)}
	if err := r.compareSettings("ckpt", string(flat)); err != nil {
		t.Errorf("the same settings, recorded flat: %v", err)
	}
	other := cfg
	other.Data.Dir, other.Recipe.WeightDecay = "elsewhere", 0
	r = &run{cfg: other, config: settings(other)}
	const refusal = `ckpt was made with Data.Dir "", Recipe.WeightDecay 0.0001; this run asks Data.Dir "elsewhere", Recipe.WeightDecay 0`
	if err := r.compareSettings("ckpt", string(flat)); err == nil || err.Error() != refusal {
		t.Errorf("other settings than the flat ones: %v;\nwant %s", err, refusal)
	}
}

// TestResumeFlatCheckpoint: a run whose checkpoint holds its settings in
// the flat form of the Config before it was grouped resumes.
func TestResumeFlatCheckpoint(t *testing.T) {
	dataDir, model := fixture(t, 10)
	out := filepath.Join(t.TempDir(), "run")
	cfg := config(dataDir, model, out, 1)
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, CheckpointFile)
	c, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flatten the groups as the old Config held them: Data and DataDir for
	// the set and its folder, every other field at the top.
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.Config), &top); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"Data", "Recipe", "Engine"} {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(top[g], &fields); err != nil {
			t.Fatal(err)
		}
		delete(top, g)
		for k, v := range fields {
			switch {
			case g == "Data" && k == "Set":
				k = "Data"
			case g == "Data" && k == "Dir":
				k = "DataDir"
			}
			top[k] = v
		}
	}
	flat, _ := json.Marshal(top)
	if strings.Contains(string(flat), `"Recipe"`) || !strings.Contains(string(flat), `"DataDir"`) {
		t.Fatalf("not flat: %s", flat)
	}
	c.Config = string(flat)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	cfg.Recipe.Epochs, cfg.Resume = 2, true
	if metrics, err := Train(context.Background(), cfg); err != nil || len(metrics) != 2 {
		t.Fatalf("resuming a checkpoint with flat settings: %d epochs, %v", len(metrics), err)
	}
}

// TestResumeRefusalsAndDefaultThreads: a run with the default thread count
// resumes when the number of cores Go uses has changed; a resume with
// another learning rate is refused naming it; a finished checkpoint whose
// metrics.jsonl is missing or empty is refused in one line, not a panic.
func TestResumeRefusalsAndDefaultThreads(t *testing.T) {
	dataDir, model := fixture(t, 10)
	out := filepath.Join(t.TempDir(), "run")
	cfg := config(dataDir, model, out, 1)
	cfg.Engine.Threads = 0
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(2)
	cfg.Recipe.Epochs, cfg.Resume = 2, true
	metrics, err := Train(context.Background(), cfg)
	if err != nil || len(metrics) != 2 {
		t.Fatalf("resuming with GOMAXPROCS 2 a run made with 1: %d epochs, %v", len(metrics), err)
	}

	other := cfg
	other.Recipe.LR = 0.2
	var se *SettingsError
	if _, err := Train(context.Background(), other); !errors.As(err, &se) ||
		!strings.HasSuffix(err.Error(), " was made with Recipe.LR 0.05; this run asks Recipe.LR 0.2") {
		t.Errorf("resuming with another learning rate: %v", err)
	}

	metricsFile := filepath.Join(out, MetricsFile)
	for _, damage := range []struct {
		name string
		do   func() error
	}{
		{"missing", func() error { return os.Remove(metricsFile) }},
		{"empty", func() error { return os.WriteFile(metricsFile, nil, 0o644) }},
	} {
		if err := damage.do(); err != nil {
			t.Fatal(err)
		}
		_, err := Train(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "holds the metrics of 0 epochs where checkpoint.bin has done 2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("a finished checkpoint with metrics.jsonl %s: %v", damage.name, err)
		}
	}
}
