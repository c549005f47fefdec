package mnistdemo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// tinyBudget runs every stage of the demo on a synthetic MNIST in seconds.
var tinyBudget = Budget{Mode: "quick", Seed: 3, BaseWidth: 4, TrainLimit: 192, Epochs: 2, Batch: 32, LR: 0.05, MixupOffEpochs: 1,
	Canvas: 32, Canvases: 64, TestCanvases: 32, SegEpochs: 1, SegBatch: 16, SegLR: 0.05,
	DetCanvases: 32, DetEpochs: 1, DetBatch: 16, DetLR: 0.02}

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
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dataDir := t.TempDir()
	if err := data.WriteSyntheticMNIST(dataDir, 256, 64, 1); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "demo")
	runDemo := func(ctx context.Context, log *cancelOn) (*Result, error) {
		return Run(ctx, Config{Budget: tinyBudget, Out: out, DataDir: dataDir, Threads: 2, Runtime: ort.Options{Provider: "cpu", Threads: 2}, Log: log,
			Stage:  func(n, total int, what string) { fmt.Fprintf(log, "== demo %d/%d: %s\n", n, total, what) },
			Notice: func(msg string) { fmt.Fprintln(log, msg) }})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &cancelOn{mark: "== demo 4/", cancel: cancel}
	if _, err := runDemo(ctx, first); err == nil {
		t.Fatal("the interrupted demo reported success")
	}
	if _, err := os.Stat(filepath.Join(out, ResultsFile)); err == nil {
		t.Fatal("an interrupted demo wrote its results")
	}

	second := &cancelOn{}
	res, err := runDemo(context.Background(), second)
	if err != nil {
		t.Fatalf("%v\n%s", err, second)
	}
	if log := second.String(); !strings.Contains(log, "continuing the quick demo") ||
		!strings.Contains(log, filepath.Join(out, RunsDir, "a-baseline")+": finished already") {
		t.Errorf("the second start did not read back the finished run:\n%s", log)
	}
	checkDemoResult(t, out, res)

	third := &cancelOn{}
	again, err := runDemo(context.Background(), third)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(third.String(), "finished already"); n != len(ClassifierRuns)+2*len(downstreams) {
		t.Errorf("the third start read back %d runs, want every run: %d training, %d fine-tuning\n%s", n, len(ClassifierRuns), 2*len(downstreams), third)
	}
	for i := range res.Runs {
		if a, b := res.Runs[i].Eval.Top1, again.Runs[i].Eval.Top1; a != b {
			t.Errorf("%s: top-1 %v, then %v read back", res.Runs[i].Run.Name, a, b)
		}
	}
}

// checkDemoResult checks what a finished demo left in its folder.
func checkDemoResult(t *testing.T, out string, res *Result) {
	t.Helper()
	var saved Result
	b, err := os.ReadFile(filepath.Join(out, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if len(saved.Runs) != len(ClassifierRuns) || saved.Budget != tinyBudget {
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
		if r.Run.Transfer != (r.Segment != nil) || r.Run.Transfer != (r.Detect != nil) {
			t.Errorf("%s: segmentation result %v, detection result %v, want them: %v", r.Run.Name, r.Segment != nil, r.Detect != nil, r.Run.Transfer)
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
	md, err := os.ReadFile(filepath.Join(out, ReportName+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Table 5", "Table 6", "Table 8", "Table 9", "ResNet-20-D, all tricks", "loss.png", "segment.png", "prediction-"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if bytes.Contains(md, []byte("NaN")) {
		t.Errorf("report.md holds NaN:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out, ReportName+".html")); err != nil {
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
	b, _ := json.Marshal(Full)
	os.WriteFile(filepath.Join(started, SettingsFile), b, 0o644)
	corrupt := filepath.Join(dir, "corrupt")
	os.Mkdir(corrupt, 0o755)
	os.WriteFile(filepath.Join(corrupt, SettingsFile), []byte("{\"mode\": "), 0o644)
	busy := filepath.Join(dir, "busy")
	os.Mkdir(busy, 0o755)
	b, _ = json.Marshal(Quick)
	os.WriteFile(filepath.Join(busy, SettingsFile), b, 0o644)
	unlock, err := train.LockDir(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, tc := range []struct{ out, want string }{
		{other, "holds other files"},
		{started, "holds a full demo"},
		{busy, "in use by another bot-onnx run"},
		{corrupt, "expected a demo's settings, found unreadable JSON"},
	} {
		_, err := Run(context.Background(), Config{Budget: Quick, Out: tc.out})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo in %s: %v; want an error saying %q", tc.out, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Errorf("the refused folder now holds %d entries", len(entries))
	}
	// Settings train refuses are refused before demo.json is written.
	fresh := filepath.Join(dir, "fresh")
	_, err = Run(context.Background(), Config{Budget: Quick, Out: fresh, Threads: -1})
	var fe *train.FieldError
	if !errors.As(err, &fe) || fe.Field != "Engine.Threads" {
		t.Errorf("Threads -1: %v, want a FieldError on Engine.Threads", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused demo made its folder (%v)", err)
	}
}
