package transfer_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// backbone builds a one-channel ResNet-20-D for side×side inputs, as for
// MNIST canvases, and exports its backbone with the given options (Head is
// set to Backbone).
func backbone(t testing.TB, side int, opts export.Options) *graph.Model {
	return backboneOf(t, "D", side, opts)
}

// backboneOf is backbone for another variant.
func backboneOf(t testing.TB, variant string, side int, opts export.Options) *graph.Model {
	t.Helper()
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: side, Width: side, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	passes, err := tweaks.ForVariant(variant)
	if err != nil {
		t.Fatal(err)
	}
	if m, _, err = tweaks.Apply(m, passes, tweaks.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	opts.Head = export.Backbone
	b, _, err := export.Build(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireORT skips (or fails under CI) when no ONNX Runtime library is found.
func requireORT(t *testing.T) {
	t.Helper()
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
}

// run runs model in ONNX Runtime (CPU) on x and returns its outputs by name.
func run(t *testing.T, m *graph.Model, x ort.Tensor) map[string]ort.Tensor {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSessionFromBytes(data, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ys, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ort.Tensor{}
	for i, o := range s.Outputs() {
		out[o.Name] = ys[i]
	}
	return out
}

// randomInput is a seeded batch of n one-channel side×side images.
func randomInput(n, side int) ort.Tensor {
	rng := rand.New(rand.NewPCG(5, 6))
	x := ort.Tensor{Shape: []int64{int64(n), 1, int64(side), int64(side)}, Data: make([]float32, n*side*side)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// ops counts a model's nodes by operator.
func ops(m *graph.Model) map[string]int {
	n := map[string]int{}
	for _, node := range m.GetGraph().GetNode() {
		n[node.GetOpType()]++
	}
	return n
}

// TestHeads grafts each head onto ResNet-20-D's backbone at 64×64 and
// checks the result: one output `logits` of the declared shape, what was
// pruned, the head record, the source untouched, python3-onnx's full
// checker, and a run in ONNX Runtime at batch 2.
func TestHeads(t *testing.T) {
	requireORT(t)
	src := backbone(t, 64, export.Options{})
	before, _ := src.Encode()
	srcOps := ops(src)
	dir := t.TempDir()
	var files []string
	for _, tc := range []struct {
		name     string
		head     func(*graph.Model, string, int, uint64) (*graph.Model, error)
		feature  string
		classes  int
		shape    string  // declared
		out      []int64 // from ONNX Runtime at batch 2
		convs    int     // backbone convs kept + head convs
		record   string
		midWidth int64 // FCN: the 3×3 conv's output channels
	}{
		{"fcn-c2", transfer.FCNHead, "c2", 11, "batch×11×64×64", []int64{2, 11, 64, 64}, srcOps["Conv"] + 2,
			`{"head":"fcn","feature":"c2","classes":11,"seed":1}`, 16},
		// c1 (stride 2) drops stage 3: its 6 convs and 1 projection.
		{"fcn-c1", transfer.FCNHead, "c1", 11, "batch×11×64×64", []int64{2, 11, 64, 64}, srcOps["Conv"] - 7 + 2,
			`{"head":"fcn","feature":"c1","classes":11,"seed":1}`, 16},
		// c0 (stride 1): Resize by 1.
		{"fcn-c0", transfer.FCNHead, "c0", 3, "batch×3×64×64", []int64{2, 3, 64, 64}, srcOps["Conv"] - 14 + 2,
			`{"head":"fcn","feature":"c0","classes":3,"seed":1}`, 16},
		{"classifier-c2", transfer.ClassifierHead, "c2", 10, "batch×10", []int64{2, 10}, srcOps["Conv"],
			`{"head":"classifier","feature":"c2","classes":10,"seed":1}`, 0},
		// Three branches of a 3×3 and a 1×1 conv, joined by Concat.
		{"centernet-c2", transfer.CenterNetHead, "c2", 10, "batch×14×16×16", []int64{2, 14, 16, 16}, srcOps["Conv"] + 6,
			`{"head":"centernet","feature":"c2","classes":10,"seed":1}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.head(src, tc.feature, tc.classes, 1)
			if err != nil {
				t.Fatal(err)
			}
			outs := m.GetGraph().GetOutput()
			if len(outs) != 1 || outs[0].GetName() != transfer.LogitsName {
				t.Fatalf("outputs %v, want only %q", outs, transfer.LogitsName)
			}
			if s, _, _ := graph.ShapeOf(outs[0]); s.String() != tc.shape {
				t.Errorf("declared output shape %s, want %s", s, tc.shape)
			}
			if got := ops(m)["Conv"]; got != tc.convs {
				t.Errorf("%d convs, want %d", got, tc.convs)
			}
			if rec, _ := m.Metadata(transfer.MetaHead); rec != tc.record {
				t.Errorf("head record %s, want %s", rec, tc.record)
			}
			if tc.midWidth > 0 {
				if _, dims, err := m.InitializerFloats("classifier.0.weight"); err != nil || dims[0] != tc.midWidth {
					t.Errorf("classifier.0.weight: dims %v (%v), want %d output channels", dims, err, tc.midWidth)
				}
				if ops(m)["Resize"] != 1 {
					t.Errorf("%d Resize nodes, want 1", ops(m)["Resize"])
				}
			}
			y := run(t, m, randomInput(2, 64))[transfer.LogitsName]
			if !slices.Equal(y.Shape, tc.out) {
				t.Errorf("ONNX Runtime output shape %v, want %v", y.Shape, tc.out)
			}
			path := filepath.Join(dir, tc.name+".onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			files = append(files, path)
		})
	}
	if after, _ := src.Encode(); string(after) != string(before) {
		t.Error("grafting heads changed the backbone")
	}
	python := testenv.RequirePython(t, "onnx")
	args := append([]string{"-c", "import sys, onnx\nfor p in sys.argv[1:]: onnx.checker.check_model(onnx.load(p), full_check=True)"}, files...)
	if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
}

// TestHeadsMatchPeers checks what the heads compute, in ONNX Runtime,
// against the same layers applied to the backbone's feature map by
// independent code: the classifier against a mean and a dot product in Go,
// the FCN head against PyTorch (conv2d, batch_norm in eval mode, relu,
// conv2d, interpolate bilinear with align_corners=False, as torchvision's
// FCN), with the head's BatchNorm statistics and biases drawn at random so
// that none is a no-op.
func TestHeadsMatchPeers(t *testing.T) {
	requireORT(t)
	src := backbone(t, 32, export.Options{})
	x := randomInput(2, 32)
	c2 := run(t, src, x)["c2"] // [2, 64, 8, 8]

	cls, err := transfer.ClassifierHead(src, "c2", 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, cls, "fc.bias")
	logits := run(t, cls, x)[transfer.LogitsName]
	w, _, _ := cls.InitializerFloats("fc.weight")
	b, _, _ := cls.InitializerFloats("fc.bias")
	for n := range 2 {
		for k := range 5 {
			want := float64(b[k])
			for c := range 64 {
				var mean float64
				for _, v := range c2.Data[(n*64+c)*64 : (n*64+c+1)*64] {
					mean += float64(v) / 64
				}
				want += mean * float64(w[k*64+c])
			}
			if got := logits.Data[n*5+k]; math.Abs(float64(got)-want) > 1e-4 {
				t.Errorf("classifier logit [%d %d] = %g, want %g", n, k, got, want)
			}
		}
	}

	python := testenv.RequirePython(t, "onnx", "torch")
	fcn, err := transfer.FCNHead(src, "c2", 11, 3)
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, fcn, "classifier.1.weight", "classifier.1.bias", "classifier.1.running_mean", "classifier.1.running_var", "classifier.4.bias")
	y := run(t, fcn, x)[transfer.LogitsName]
	dir := t.TempDir()
	model := filepath.Join(dir, "fcn.onnx")
	if err := fcn.Save(model); err != nil {
		t.Fatal(err)
	}
	featFile, logitFile := writeFloats(t, dir, "c2.bin", c2.Data), writeFloats(t, dir, "logits.bin", y.Data)
	script := `
import sys, numpy as np, onnx, torch
import torch.nn.functional as F
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
x = torch.from_numpy(np.fromfile(sys.argv[2], dtype='<f4').reshape(2, 64, 8, 8))
got = np.fromfile(sys.argv[3], dtype='<f4').reshape(2, 11, 32, 32)
y = F.conv2d(x, w['classifier.0.weight'], padding=1)
y = F.batch_norm(y, w['classifier.1.running_mean'], w['classifier.1.running_var'], w['classifier.1.weight'], w['classifier.1.bias'], training=False, eps=1e-5)
y = F.conv2d(F.relu(y), w['classifier.4.weight'], w['classifier.4.bias'])
y = F.interpolate(y, size=(32, 32), mode='bilinear', align_corners=False)
print(float(np.abs(y.numpy() - got).max()), float(np.abs(y.numpy()).max()))
`
	out, err := exec.Command(python, "-c", script, model, featFile, logitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 {
		t.Fatalf("python printed %q", out)
	}
	diff, _ := strconv.ParseFloat(fields[0], 64)
	scale, _ := strconv.ParseFloat(fields[1], 64)
	t.Logf("FCN head: ONNX Runtime vs PyTorch max |diff| %.3g on logits up to %.3g", diff, scale)
	if !(diff < 1e-4*max(1, scale)) || scale == 0 {
		t.Errorf("ONNX Runtime and PyTorch differ by %g on logits up to %g", diff, scale)
	}
}

// randomize replaces the named initializers of m with values drawn from
// [0.5, 1.5), positive so that running variances stay valid.
func randomize(t *testing.T, m *graph.Model, names ...string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(8, 9))
	for _, name := range names {
		_, dims, err := m.InitializerFloats(name)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, graph.NumElements(dims))
		for i := range v {
			v[i] = float32(0.5 + rng.Float64())
		}
		m.SetInitializer(graph.FloatTensor(name, dims, v))
	}
}

// writeFloats writes v as little-endian float32 to dir/name.
func writeFloats(t *testing.T, dir, name string, v []float32) string {
	t.Helper()
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHeadsDeterministic: the same seed gives the same model, another seed
// other weights.
func TestHeadsDeterministic(t *testing.T) {
	src := backbone(t, 32, export.Options{})
	encode := func(seed uint64) string {
		m, err := transfer.FCNHead(src, "c2", 11, seed)
		if err != nil {
			t.Fatal(err)
		}
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if encode(4) != encode(4) {
		t.Error("seed 4 twice gives two models")
	}
	if encode(4) == encode(5) {
		t.Error("seeds 4 and 5 give the same model")
	}
}

func TestHeadErrors(t *testing.T) {
	src := backbone(t, 32, export.Options{})
	classifier, err := models.Build(models.Config{Model: "resnet20", InChannels: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		backbone *graph.Model
		head     func(*graph.Model, string, int, uint64) (*graph.Model, error)
		feature  string
		classes  int
		want     string
	}{
		{"no such feature", src, transfer.FCNHead, "c5", 11,
			`transfer: the backbone has no output "c5": expected one of its outputs c0, c1, c2`},
		{"no such feature, classifier", src, transfer.ClassifierHead, "layer3", 10,
			`the backbone has no output "layer3": expected one of its outputs c0, c1, c2`},
		{"one class", src, transfer.FCNHead, "c2", 1, "transfer: fcn head with 1 classes: expected at least 2"},
		{"no classes", src, transfer.ClassifierHead, "c2", 0, "transfer: classifier head with 0 classes: expected at least 2"},
		{"not a feature map", classifier, transfer.ClassifierHead, "logits", 10,
			`feature "logits": expected a float tensor [N C H W] with a known channel count, found float of shape [batch×10]`},
		{"dynamic size", backbone(t, 32, export.Options{DynamicSize: true}), transfer.FCNHead, "c2", 11,
			`the input size [height×width] and the size [?×?] of "c2" must be fixed`},
		// ResNet-20-A (strided convs only) takes 30×30: c1 is 15×15, c2 8×8.
		{"size not a multiple", backboneOf(t, "A", 32, export.Options{InputSize: []int64{30, 30}}), transfer.FCNHead, "c2", 11,
			`feature "c2" is 8×8 at an input of 30×30: expected the input an integer multiple of it along each axis`},
		{"float16 input", backbone(t, 32, export.Options{FP16: true, FP16IO: true}), transfer.FCNHead, "c1", 11,
			`the backbone's input "input": expected a float tensor [N C H W], found float16 of shape [batch×1×32×32]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.head(tc.backbone, tc.feature, tc.classes, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("the error spans several lines: %q", err)
			}
		})
	}
}

// TestHeadLogitsNameTaken: a backbone value already named `logits` is
// moved aside for the head's output.
func TestHeadLogitsNameTaken(t *testing.T) {
	requireORT(t)
	src := backbone(t, 32, export.Options{})
	graph.RenameValue(src.GetGraph(), "c1", transfer.LogitsName)
	m, err := transfer.FCNHead(src, "c2", 11, 1)
	if err != nil {
		t.Fatal(err)
	}
	y := run(t, m, randomInput(1, 32))
	if got, ok := y[transfer.LogitsName]; len(y) != 1 || !ok || !slices.Equal(got.Shape, []int64{1, 11, 32, 32}) {
		t.Errorf("outputs %v, want only logits of [1 11 32 32]", y)
	}
}
