package models

import (
	"math"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
)

// torchvision's parameter counts (sum of p.numel() over parameters() of
// torchvision.models.resnetNN(), 1000 classes; also listed in torchvision's
// model documentation). ResNet-A keeps B's parameters: the tweak moves a
// stride, not a weight.
//
// resnet20: hand count for the CIFAR layout with projection shortcuts,
// 10 classes:
//
//	stem conv 3·16·9 = 432, BN 32
//	stage 1: 6 convs 16·16·9 = 13,824, 6 BNs 192
//	stage 2: 16·32·9 + 5·32·32·9 = 50,688, 6 BNs 384, projection 16·32 + BN 64 = 576
//	stage 3: 32·64·9 + 5·64·64·9 = 202,752, 6 BNs 768, projection 32·64 + BN 128 = 2,176
//	fc 64·10 + 10 = 650
//	total 272,474 (0.27 M; He et al. 2016 list 0.27 M for the zero-padding shortcut)
//
// Each deeper CIFAR model adds cifarBlockSet per extra block in each stage.
var paramCounts = []struct {
	model  string
	params int64
}{
	{"resnet18", 11_689_512},
	{"resnet34", 21_797_672},
	{"resnet50", 25_557_032},
	{"resnet101", 44_549_160},
	{"resnet152", 60_192_808},
	{"resnet20", 272_474},
	{"resnet32", 272_474 + 2*cifarBlockSet},
	{"resnet44", 272_474 + 4*cifarBlockSet},
	{"resnet56", 272_474 + 6*cifarBlockSet},
	{"resnet110", 272_474 + 15*cifarBlockSet},
}

// cifarBlockSet is the parameters of one basic block in each of the three
// CIFAR stages: 2·(16·16·9 + 2·16) + 2·(32·32·9 + 2·32) + 2·(64·64·9 + 2·64).
const cifarBlockSet = 2*(16*16*9+2*16) + 2*(32*32*9+2*32) + 2*(64*64*9+2*64)

func TestParamCounts(t *testing.T) {
	for _, tc := range paramCounts {
		t.Run(tc.model, func(t *testing.T) {
			m, err := Build(Config{Model: tc.model})
			if err != nil {
				t.Fatal(err)
			}
			c, err := graph.Count(m)
			if err != nil {
				t.Fatal(err)
			}
			if c.Params != tc.params {
				t.Errorf("params = %d, want %d", c.Params, tc.params)
			}
		})
	}
}

// TestResNet50AMACs checks ResNet-50-A's cost against the paper's Table 5
// (3.86 G "FLOPs", which are multiply-accumulates) and torchvision's
// resnet50, which is ResNet-B (4.089 G MACs, conv + fc): moving the stride
// to the 3×3 conv makes B dearer, so A must come out below it.
func TestResNet50AMACs(t *testing.T) {
	m, err := Build(Config{Model: "resnet50"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.Count(m)
	if err != nil {
		t.Fatal(err)
	}
	const paper, torchvisionB = 3.86e9, 4.089e9
	if got := float64(c.MACs); got >= torchvisionB || got < paper*0.98 || got > paper*1.02 {
		t.Errorf("ResNet-50-A MACs = %d, want below %.0f and within 2%% of %.0f", c.MACs, torchvisionB, paper)
	}
}

func TestBuildShapesAndNames(t *testing.T) {
	tests := []struct {
		cfg      Config
		input    string
		output   string
		blocks   int // Add nodes
		projects int // shortcut projections
	}{
		{Config{Model: "resnet18"}, "batch×3×224×224", "batch×1000", 8, 3},
		{Config{Model: "resnet50", Classes: 10, InChannels: 1, Height: 64, Width: 64, BaseWidth: 16}, "batch×1×64×64", "batch×10", 16, 4},
		{Config{Model: "resnet20"}, "batch×3×32×32", "batch×10", 9, 2},
		{Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, Classes: 10}, "batch×1×28×28", "batch×10", 9, 2},
	}
	for _, tc := range tests {
		t.Run(tc.cfg.Model+"/"+tc.input, func(t *testing.T) {
			m, err := Build(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			g := m.GetGraph()
			in, _, _ := graph.ShapeOf(g.GetInput()[0])
			out, _, _ := graph.ShapeOf(g.GetOutput()[0])
			if g.GetInput()[0].GetName() != "input" || in.String() != tc.input {
				t.Errorf("input %s %s, want input %s", g.GetInput()[0].GetName(), in, tc.input)
			}
			if g.GetOutput()[0].GetName() != "logits" || out.String() != tc.output {
				t.Errorf("output %s %s, want logits %s", g.GetOutput()[0].GetName(), out, tc.output)
			}
			adds, projections := 0, 0
			for _, n := range g.GetNode() {
				if n.GetOpType() == "Add" {
					adds++
				}
			}
			for _, init := range g.GetInitializer() {
				if len(init.GetDims()) == 4 && init.GetDims()[2] == 1 && strings.HasSuffix(init.GetName(), ".downsample.0.weight") {
					projections++
				}
			}
			if adds != tc.blocks || projections != tc.projects {
				t.Errorf("%d residual adds and %d projections, want %d and %d", adds, projections, tc.blocks, tc.projects)
			}
			if v, _ := m.Metadata(MetaVariant); v != "A" {
				t.Errorf("variant metadata %q, want A", v)
			}
		})
	}
}

// TestStrideOnFirstConv checks the ResNet-A layout: in each downsampling
// bottleneck the stride-2 conv is the 1×1 conv1, not the 3×3 conv2.
func TestStrideOnFirstConv(t *testing.T) {
	m, err := Build(Config{Model: "resnet50"})
	if err != nil {
		t.Fatal(err)
	}
	strides := map[string]int64{}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" {
			strides[n.GetName()] = graph.IntsAttr(n, "strides", nil)[0]
		}
	}
	for _, layer := range []string{"layer2.0", "layer3.0", "layer4.0"} {
		if strides[layer+".conv1"] != 2 || strides[layer+".conv2"] != 1 || strides[layer+".downsample.0"] != 2 {
			t.Errorf("%s strides conv1 %d conv2 %d downsample %d, want 2, 1, 2", layer,
				strides[layer+".conv1"], strides[layer+".conv2"], strides[layer+".downsample.0"])
		}
	}
	if strides["layer1.0.downsample.0"] != 1 {
		t.Errorf("layer1.0 projection stride %d, want 1", strides["layer1.0.downsample.0"])
	}
}

// TestInitialisation checks the paper's init rule and its reproducibility:
// Xavier-uniform bounds and variance a²/3, BN γ = 1 and β = 0, zero fc
// bias; the same seed gives the same bytes, another seed other weights.
func TestInitialisation(t *testing.T) {
	a, err := Build(Config{Model: "resnet20", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	w, dims, err := a.InitializerFloats("layer3.1.conv1.weight")
	if err != nil {
		t.Fatal(err)
	}
	fan := float64(dims[1]*dims[2]*dims[3] + dims[0]*dims[2]*dims[3])
	bound := float32(math.Sqrt(6 / fan))
	var sumSq float64
	for _, v := range w {
		if v < -bound || v > bound {
			t.Fatalf("weight %g outside ±%g", v, bound)
		}
		sumSq += float64(v) * float64(v)
	}
	variance, want := sumSq/float64(len(w)), float64(bound)*float64(bound)/3
	if variance < want*0.95 || variance > want*1.05 {
		t.Errorf("weight variance %g, want %g ± 5%%", variance, want)
	}
	for name, value := range map[string]float32{"bn1.weight": 1, "bn1.bias": 0, "layer2.0.bn2.running_var": 1, "fc.bias": 0} {
		v, _, err := a.InitializerFloats(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			if x != value {
				t.Fatalf("%s has %g, want all %g", name, x, value)
			}
		}
	}
	b, _ := Build(Config{Model: "resnet20", Seed: 7})
	if !graph.Equal(a, b) {
		t.Error("two builds with seed 7 differ")
	}
	c, _ := Build(Config{Model: "resnet20", Seed: 8})
	if graph.Equal(a, c) {
		t.Error("seeds 7 and 8 give the same model")
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "resnet51"}, `unknown model "resnet51"`},
		{Config{Model: "resnet50", Height: -3}, "must be positive"},
		{Config{Model: "resnet18", Classes: -1}, "must be positive"},
	}
	for _, tc := range tests {
		_, err := Build(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestDescribe says each layout's blocks, stem, classes and input size.
func TestDescribe(t *testing.T) {
	for name, want := range map[string]string{
		"resnet50": "bottleneck blocks, ImageNet layout (7×7 stem, max pool, 4 stages), 1000 classes, 3x224x224",
		"resnet20": "basic blocks, CIFAR layout (3×3 stem, 3 stages of 16/32/64), 10 classes, 3x32x32",
	} {
		arch, err := Lookup(name)
		if got := arch.Describe(); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}
