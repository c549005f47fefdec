package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// fixture writes a small MNIST-format data set and a ResNet-20 for 1×28×28.
func fixture(t *testing.T, classes int) (dataDir, model string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 384, 200, 1); err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Classes: classes, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	return dataDir, model
}

func config(dataDir, model, out string, epochs int) Config {
	return Config{
		Model:  model,
		Seed:   7,
		Data:   DataConfig{Set: "mnist", Dir: dataDir},
		Recipe: Recipe{Epochs: epochs, Batch: 32, LR: 0.05, DecayEpochs: []int{2}, DecayFactor: 0.1, WarmupEpochs: 1, WeightDecay: 1e-4, Momentum: 0.9},
		Engine: Engine{Threads: 2},
		Out:    out,
	}
}

func weightsOf(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, init := range m.GetGraph().GetInitializer() {
		v, err := graph.Floats(init)
		if err != nil {
			t.Fatal(err)
		}
		out[init.GetName()] = v
	}
	return out
}

// TestTrainDeterministicAndResumable: the same seed and thread count give
// the same run; a run stopped in the middle of an epoch and resumed ends
// with exactly the weights and metrics of an uninterrupted one.
func TestTrainDeterministicAndResumable(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole")
	metrics, err := Train(context.Background(), config(dataDir, model, whole, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(metrics) != 3 || metrics[2].TestTop1 < 0.5 || !(metrics[2].TrainLoss < metrics[0].TrainLoss) {
		t.Fatalf("metrics %+v: expected learning on the synthetic set", metrics)
	}

	again := filepath.Join(dir, "again")
	if _, err := Train(context.Background(), config(dataDir, model, again, 3)); err != nil {
		t.Fatal(err)
	}
	stopped := filepath.Join(dir, "stopped")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config(dataDir, model, stopped, 3)
	var log stopAfter
	log.cancel, log.after = cancel, "epoch 2/3"
	cfg.Log = &log
	if _, err := Train(ctx, cfg); err == nil {
		t.Fatal("the cancelled run finished")
	}
	if done, _ := ReadMetrics(filepath.Join(stopped, MetricsFile)); len(done) != 1 {
		t.Fatalf("the run stopped after %d epochs, want it stopped inside epoch 2", len(done))
	}
	if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "or Resume to continue the run it holds") {
		t.Fatalf("restarting over a run without Resume: %v", err)
	}
	cfg.Resume, cfg.Log = true, nil
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want := weightsOf(t, filepath.Join(whole, ModelFile))
	for _, run := range []string{again, stopped} {
		got := weightsOf(t, filepath.Join(run, ModelFile))
		for name, v := range want {
			for i := range v {
				if got[name][i] != v[i] {
					t.Fatalf("%s: %s[%d] = %g, the uninterrupted run has %g", filepath.Base(run), name, i, got[name][i], v[i])
				}
			}
		}
		lines, _ := os.ReadFile(filepath.Join(run, MetricsFile))
		if n := bytes.Count(lines, []byte("\n")); n != 3 {
			t.Errorf("%s: %d metrics lines, want 3", filepath.Base(run), n)
		}
		// Timings differ between runs; compare the learning figures.
		runMetrics, _ := ReadMetrics(filepath.Join(run, MetricsFile))
		ref, _ := ReadMetrics(filepath.Join(whole, MetricsFile))
		for i := range ref {
			m := runMetrics[i]
			if m.TrainLoss != ref[i].TrainLoss || m.TestTop1 != ref[i].TestTop1 || m.Step != ref[i].Step || m.Epoch != i+1 {
				t.Errorf("%s epoch %d: %+v, uninterrupted %+v", filepath.Base(run), i+1, m, ref[i])
			}
		}
	}
}

// stopAfter cancels a run the first time the progress log mentions a
// marker: the end of epoch 2's steps, before its evaluation and checkpoint,
// so the resumed run must redo epoch 2 from epoch 1's checkpoint.
type stopAfter struct {
	cancel func()
	after  string
	seen   int
}

func (s *stopAfter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), s.after) {
		if s.seen++; s.seen == 1 {
			s.cancel()
		}
	}
	return len(p), nil
}

// consumerFunc is an eval.Consumer made of a function.
type consumerFunc func(out eval.Output, b *data.Batch) error

func (f consumerFunc) Add(out eval.Output, b *data.Batch) error { return f(out, b) }

// TestEvaluationMatchesONNXRuntime: the trained model's logits on the test
// set in Gorgonia (evaluation mode, batch by batch through package eval's
// loop, the last batch padded) and in ONNX Runtime (the whole set in one
// run) agree to 1e-4, with the same top-1.
func TestEvaluationMatchesONNXRuntime(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dataDir, model := fixture(t, 10)
	out := filepath.Join(t.TempDir(), "run")
	if _, err := Train(context.Background(), config(dataDir, model, out, 1)); err != nil {
		t.Fatal(err)
	}
	trained, err := graph.Load(filepath.Join(out, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWeights[float32](trained)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 64
	net, err := Lower(trained, w, batch, LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := data.MNIST(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	test, _ = data.Normalize(test, []float64{data.MNISTMean}, []float64{data.MNISTStd})
	var logits []float32
	var labels []int32
	collect := consumerFunc(func(out eval.Output, b *data.Batch) error {
		logits = append(logits, out.Data...)
		labels = append(labels, b.Labels[:b.N]...)
		return nil
	})
	engine := eval.NewClassification(10)
	if _, err := eval.Run(context.Background(), evalNet{net}, test, eval.Options{Workers: 1}, collect, engine); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(filepath.Join(out, ModelFile), ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := ort.Tensor{Shape: []int64{int64(test.Len()), 1, 28, 28}, Data: make([]float32, test.Len()*784)}
	for i := 0; i < test.Len(); i++ {
		if _, err := test.Example(i, x.Data[i*784:(i+1)*784]); err != nil {
			t.Fatal(err)
		}
	}
	y, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != len(y[0].Data) {
		t.Fatalf("the engine gave %d logits, ONNX Runtime %d", len(logits), len(y[0].Data))
	}
	worst := 0.0
	for i, v := range y[0].Data {
		worst = math.Max(worst, math.Abs(float64(v-logits[i])))
	}
	onnxRuntime := eval.NewClassification(10)
	if err := onnxRuntime.Add(eval.Output{Shape: y[0].Shape, Data: y[0].Data}, &data.Batch{N: len(labels), Labels: labels}); err != nil {
		t.Fatal(err)
	}
	if worst > 1e-4 || engine.Top1() != onnxRuntime.Top1() {
		t.Errorf("max |Gorgonia − ONNX Runtime| = %g, top-1 %.4f vs %.4f", worst, engine.Top1(), onnxRuntime.Top1())
	}
}

func TestTrainRefusesBadInput(t *testing.T) {
	dataDir, model := fixture(t, 10)
	_, fiveClasses := fixture(t, 5)
	_, twentyClasses := fixture(t, 20)
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated")
	os.Mkdir(truncated, 0o755)
	for _, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		b, _ := os.ReadFile(filepath.Join(dataDir, name))
		if strings.HasPrefix(name, "train-images") {
			b = b[:len(b)/2]
		}
		os.WriteFile(filepath.Join(truncated, name), b, 0o644)
	}
	unsupported, _ := graph.Load(model)
	for _, n := range unsupported.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" {
			n.OpType = "Sigmoid"
			break
		}
	}
	sigmoid := filepath.Join(dir, "sigmoid.onnx")
	unsupported.Save(sigmoid)

	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unsupported op", func(c *Config) { c.Model = sigmoid }, "operator Sigmoid is not supported"},
		{"missing data", func(c *Config) { c.Data.Dir = filepath.Join(dir, "nowhere") }, "nowhere"},
		{"truncated data", func(c *Config) { c.Data.Dir = truncated }, "train-images-idx3-ubyte"},
		{"labels past the classes", func(c *Config) { c.Model = fiveClasses }, "5 classes, the data set 10"},
		{"classes the data never has", func(c *Config) { c.Model = twentyClasses }, "20 classes, the data set 10"},
		{"unknown data", func(c *Config) { c.Data.Set = "imagenet" }, `"imagenet": expected mnist, fashion-mnist, cifar10[:DIR] or folder:DIR`},
		{"diverging", func(c *Config) { c.Recipe.LR, c.Recipe.WarmupEpochs = 1e30, 0 }, "the loss is"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(dataDir, model, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), 1)
			tc.edit(&cfg)
			_, err := Train(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestInitFromTrainedModel: Init starts a run from a trained model's
// weights (matched by name and shape), and refuses a model that shares none.
func TestInitFromTrainedModel(t *testing.T) {
	dataDir, model := fixture(t, 10)
	out := filepath.Join(t.TempDir(), "first")
	if _, err := Train(context.Background(), config(dataDir, model, out, 1)); err != nil {
		t.Fatal(err)
	}
	cfg := config(dataDir, model, filepath.Join(t.TempDir(), "second"), 1)
	cfg.Init = filepath.Join(out, ModelFile)
	r, err := prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	trained := weightsOf(t, cfg.Init)
	for name, v := range r.w.Params {
		for i := range v {
			if v[i] != trained[name][i] {
				t.Fatalf("%s[%d] = %g, the trained model has %g", name, i, v[i], trained[name][i])
			}
		}
	}
	other, err := models.Build(models.Config{Model: "resnet18", Classes: 3})
	if err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(t.TempDir(), "r18.onnx")
	other.Save(unrelated)
	cfg.Init = unrelated
	if _, err := prepare(cfg); err == nil || !strings.Contains(err.Error(), "no initializer matches") {
		t.Errorf("Init with an unrelated model: %v", err)
	}
}

// TestTricksChangeTheRun: each trick option reaches the training step and
// makes the run differ from the baseline. (Two epochs of 384 images say
// nothing of accuracy; the formulas are pinned by their own tests.)
func TestTricksChangeTheRun(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	base, err := Train(context.Background(), config(dataDir, model, filepath.Join(dir, "base"), 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"zero-gamma", func(c *Config) { c.Recipe.ZeroGamma = true }},
		{"no-wd-bias", func(c *Config) { c.Recipe.NoWDBias, c.Recipe.WeightDecay = true, 0.05 }},
		{"smoothing", func(c *Config) { c.Recipe.LabelSmoothing = 0.1 }},
		{"mixup", func(c *Config) { c.Recipe.Mixup = 0.2 }},
		{"cosine", func(c *Config) { c.Recipe.Cosine, c.Recipe.DecayEpochs = true, nil }},
		{"lars", func(c *Config) { c.Recipe.Optimizer, c.Recipe.LARSTrust, c.Recipe.LR = "lars", 0.02, 1 }},
		{"all", func(c *Config) {
			c.Recipe.ZeroGamma, c.Recipe.NoWDBias, c.Recipe.LabelSmoothing, c.Recipe.Mixup, c.Recipe.MixupOffEpochs, c.Recipe.Cosine, c.Recipe.DecayEpochs = true, true, 0.1, 0.2, 1, true, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(dataDir, model, filepath.Join(dir, tc.name), 2)
			tc.edit(&cfg)
			m, err := Train(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if m[1].TrainLoss == base[1].TrainLoss {
				t.Errorf("train loss %g equals the baseline's", m[1].TrainLoss)
			}
			t.Logf("%s: train loss %.4f → %.4f, top-1 %.3f (baseline %.3f)", tc.name, m[0].TrainLoss, m[1].TrainLoss, m[1].TestTop1, base[1].TestTop1)
			if math.IsNaN(m[1].TrainLoss) || m[1].TrainLoss >= m[0].TrainLoss*1.5 {
				t.Errorf("train loss %g after %g: the run diverged", m[1].TrainLoss, m[0].TrainLoss)
			}
		})
	}
}

// TestDistillationRun trains with a teacher (a model trained first) and
// refuses a teacher whose output size differs from the student's.
func TestDistillationRun(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	teacherRun := filepath.Join(dir, "teacher")
	if _, err := Train(context.Background(), config(dataDir, model, teacherRun, 1)); err != nil {
		t.Fatal(err)
	}
	plain, err := Train(context.Background(), config(dataDir, model, filepath.Join(dir, "plain"), 1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(dataDir, model, filepath.Join(dir, "student"), 1)
	cfg.Recipe.Teacher, cfg.Recipe.Distill, cfg.Recipe.Mixup = filepath.Join(teacherRun, ModelFile), Distillation{T: 20, Hard: 0.5, Soft: 0.5}, 0.2
	distilled, err := Train(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if distilled[0].TrainLoss == plain[0].TrainLoss || math.IsNaN(distilled[0].TrainLoss) {
		t.Errorf("distilled train loss %g, plain %g", distilled[0].TrainLoss, plain[0].TrainLoss)
	}
	_, five := fixture(t, 5)
	cfg.Recipe.Teacher, cfg.Out = five, filepath.Join(dir, "wrong")
	if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "like the student's") {
		t.Errorf("a 5-class teacher for a 10-class student: %v", err)
	}
}

// TestMicroBatchesGiveTheBatchGradient: a batch of 32 run as two
// micro-batches of 16 on one replica trains the parameters exactly like two
// replicas of 16 each (BatchNorm sees the same 16-image groups either way).
// The running statistics differ by design: one replica updates them from
// both micro-batches, while of two replicas only the first updates them.
func TestMicroBatchesGiveTheBatchGradient(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	replicas := config(dataDir, model, filepath.Join(dir, "replicas"), 1)
	replicas.Engine.Threads = 2
	accumulated := config(dataDir, model, filepath.Join(dir, "micro"), 1)
	accumulated.Engine.Threads, accumulated.Engine.MicroBatch = 1, 16
	for _, cfg := range []Config{replicas, accumulated} {
		if _, err := Train(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	a, b := weightsOf(t, filepath.Join(replicas.Out, ModelFile)), weightsOf(t, filepath.Join(accumulated.Out, ModelFile))
	for name, v := range a {
		if strings.Contains(name, "running_") {
			continue
		}
		for i := range v {
			if math.Abs(float64(v[i]-b[name][i])) > 1e-5 {
				t.Fatalf("%s[%d]: %g with replicas, %g with micro-batches", name, i, v[i], b[name][i])
			}
		}
	}
	bad := accumulated
	bad.Engine.MicroBatch, bad.Out = 10, filepath.Join(dir, "bad")
	if _, err := Train(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "Engine.MicroBatch 10: expected a divisor of Recipe.Batch (32)") {
		t.Errorf("micro-batch 10 of 32: %v", err)
	}
}

// TestModelPath: a model file is itself, a run folder means its
// model.onnx, and a folder without one or a missing path is refused
// naming it.
func TestModelPath(t *testing.T) {
	dir := t.TempDir()
	run, empty, file := filepath.Join(dir, "run"), filepath.Join(dir, "empty"), filepath.Join(dir, "m.onnx")
	for _, d := range []string{run, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{file, filepath.Join(run, ModelFile)} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, path, want, err string
	}{
		{"model file", file, file, ""},
		{"run folder", run, filepath.Join(run, ModelFile), ""},
		{"folder without a model", empty, "", "run folder " + empty + " has no model.onnx"},
		{"missing path", filepath.Join(dir, "none"), "", filepath.Join(dir, "none") + " does not exist (expected a run folder or an .onnx file)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ModelPath(tc.path)
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.err)) {
				t.Errorf("ModelPath(%s) = %q, %v; want %q, error starting %q", tc.path, got, err, tc.want, tc.err)
			}
		})
	}
}
