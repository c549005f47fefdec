package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// tinyBudget runs every stage of the demo on a synthetic MNIST in seconds.
var tinyBudget = demoBudget{Mode: "quick", Seed: 3, BaseWidth: 4, TrainLimit: 192, Epochs: 2, Batch: 32, LR: 0.05, MixupOffEpochs: 1,
	Canvas: 32, Canvases: 64, TestCanvases: 32, SegEpochs: 1, SegBatch: 16, SegLR: 0.05}

// cancelOn is a log that cancels a context when a line containing mark is
// written: an interrupt at a known stage.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	mark   string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil && bytes.Contains(p, []byte(w.mark)) {
		w.cancel()
	}
	return w.buf.Write(p)
}

func (w *cancelOn) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDemo interrupts a demo at its second training run, continues it to
// the end, checks the report and the results, then runs it a third time
// to see every stage read back.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three models and fine-tunes two")
	}
	requireORT(t)
	_, dataDir, _ := trainFixture(t, 256, 64)
	out := filepath.Join(t.TempDir(), "demo")
	newDemo := func(log *cancelOn) *demo {
		return &demo{budget: tinyBudget, out: out, dataDir: dataDir, threads: 2, runtime: ort.Options{Provider: "cpu", Threads: 2}, log: log}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &cancelOn{mark: "== demo 4/", cancel: cancel}
	if _, err := newDemo(first).run(ctx); err == nil {
		t.Fatal("the interrupted demo reported success")
	}
	if _, err := os.Stat(filepath.Join(out, demoResults)); err == nil {
		t.Fatal("an interrupted demo wrote its results")
	}

	second := &cancelOn{}
	res, err := newDemo(second).run(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, second)
	}
	if log := second.String(); !strings.Contains(log, "continuing the quick demo") ||
		!strings.Contains(log, filepath.Join(out, demoRunsDir, "a-baseline")+": finished already") {
		t.Errorf("the second start did not read back the finished run:\n%s", log)
	}
	checkDemoResult(t, out, res)

	third := &cancelOn{}
	again, err := newDemo(third).run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(third.String(), "finished already"); n != len(demoRuns)+2 {
		t.Errorf("the third start read back %d runs, want every run: %d training, 2 fine-tuning\n%s", n, len(demoRuns), third)
	}
	for i := range res.Runs {
		if a, b := res.Runs[i].Eval.Top1, again.Runs[i].Eval.Top1; a != b {
			t.Errorf("%s: top-1 %v, then %v read back", res.Runs[i].Run.Name, a, b)
		}
	}
}

// checkDemoResult checks what a finished demo left in its folder.
func checkDemoResult(t *testing.T, out string, res *demoResult) {
	t.Helper()
	var saved demoResult
	b, err := os.ReadFile(filepath.Join(out, demoResults))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if len(saved.Runs) != len(demoRuns) || saved.Budget != tinyBudget {
		t.Fatalf("results.json: %d runs, budget %+v", len(saved.Runs), saved.Budget)
	}
	for _, r := range res.Runs {
		if len(r.Train.Metrics) != tinyBudget.Epochs {
			t.Errorf("%s: %d epochs of metrics, want %d", r.Run.Name, len(r.Train.Metrics), tinyBudget.Epochs)
		}
		// The test split is 64 images: top-1 is a multiple of 1/64, and
		// ONNX Runtime scores the export as the trainer scored the model.
		if r.Eval.Images != 64 || r.Eval.Top1 < 0 || r.Eval.Top1 > 1 {
			t.Errorf("%s: ONNX Runtime scored %d images, top-1 %v", r.Run.Name, r.Eval.Images, r.Eval.Top1)
		}
		if diff := r.Eval.Top1 - r.Train.Top1; diff > 1.5/64 || diff < -1.5/64 {
			t.Errorf("%s: top-1 %v in ONNX Runtime, %v in training", r.Run.Name, r.Eval.Top1, r.Train.Top1)
		}
		if r.Run.Segment != (r.Segment != nil) {
			t.Errorf("%s: segmentation result %v, want one: %v", r.Run.Name, r.Segment != nil, r.Run.Segment)
		}
	}
	// On a CIFAR-layout ResNet only D changes anything (B and C find the
	// stride on the 3×3 conv and no 7×7 stem), and its average pools add
	// neither weights nor multiplications.
	if a, d := res.Variants["A"], res.Variants["D"]; d.Params != a.Params || d.MACs != a.MACs {
		t.Errorf("ResNet-20-D (%+v) differs in size from A (%+v)", d, a)
	}
	var changes []int
	for _, r := range res.Tweaks {
		changes = append(changes, len(r.Changes))
	}
	if !slices.Equal(changes, []int{0, 0, 2}) {
		t.Errorf("passes B, C, D changed %v places, want 0, 0 and 2 (one shortcut per downsampling stage)", changes)
	}
	md, err := os.ReadFile(filepath.Join(out, demoReport+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Table 5", "Table 6", "Table 9", "ResNet-20-D, all tricks", "loss.png", "segment.png", "prediction-"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if bytes.Contains(md, []byte("NaN")) {
		t.Errorf("report.md holds NaN:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out, demoReport+".html")); err != nil {
		t.Error(err)
	}
}

// TestDemoRefusesAnotherFolder checks that a demo does not mix its files
// with another budget's demo or with a folder of other files.
func TestDemoRefusesAnotherFolder(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	started := filepath.Join(dir, "started")
	os.Mkdir(started, 0o755)
	b, _ := json.Marshal(fullBudget)
	os.WriteFile(filepath.Join(started, demoSettings), b, 0o644)
	busy := filepath.Join(dir, "busy")
	os.Mkdir(busy, 0o755)
	b, _ = json.Marshal(quickBudget)
	os.WriteFile(filepath.Join(busy, demoSettings), b, 0o644)
	unlock, err := train.LockDir(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, tc := range []struct{ out, want string }{
		{other, "holds other files"},
		{started, "holds a full demo"},
		{busy, "in use by another bot-onnx run"},
	} {
		code, _, stderr := run("demo", "--quick", "--out", tc.out)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("demo --out %s: exit %d, %q; want an error saying %q", tc.out, code, stderr, tc.want)
		}
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Errorf("the refused folder now holds %d entries", len(entries))
	}
}

// TestDemoCommandsParse checks that the report's single commands name
// flags their commands have, so a reader can run them.
func TestDemoCommandsParse(t *testing.T) {
	app := NewApp(&bytes.Buffer{}, &bytes.Buffer{})
	for _, line := range strings.Split(demoCommands(&demoResult{Budget: quickBudget}), "\n") {
		fields := strings.Fields(line)
		cmd := app.Command(fields[1])
		if cmd == nil {
			t.Errorf("%q: no command %s", line, fields[1])
			continue
		}
		flags := map[string]bool{}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flags[n] = true
			}
		}
		for _, f := range fields[2:] {
			if name, ok := strings.CutPrefix(f, "--"); ok && !flags[name] {
				t.Errorf("%q: %s has no flag --%s", line, fields[1], name)
			}
		}
	}
}
