// Package models defines the ResNet family (He et al. 2016) as ONNX graphs:
// the ImageNet layout (ResNet-18/34/50/101/152: 7×7 stem, max pool, four
// stages) and the CIFAR layout (ResNet-20/32/44/56/110: 3×3 stem, three
// stages at 16/32/64 channels). Every model is built as ResNet-A, the form
// the "Bag of Tricks" paper starts from: in a downsampling bottleneck block
// the stride sits on the first 1×1 conv. The B, C and D tweaks are rewrites
// of these graphs and live in package tweaks.
//
// Node and weight names follow torchvision's state-dict names
// (layer2.0.conv1.weight, layer2.0.downsample.1.running_mean, fc.bias), so
// weights can be matched with a PyTorch model by name.
package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Block is a residual block type.
type Block int

const (
	// Basic is two 3×3 convs (ResNet-18/34 and the CIFAR ResNets).
	Basic Block = iota
	// Bottleneck is 1×1 → 3×3 → 1×1 with 4× channel expansion (ResNet-50 and deeper).
	Bottleneck
)

// Arch describes one ResNet depth.
type Arch struct {
	Block  Block
	Layers []int // residual blocks per stage
	CIFAR  bool  // CIFAR layout: 3×3 stem, no max pool, three stages
}

var archs = map[string]Arch{
	"resnet18":  {Basic, []int{2, 2, 2, 2}, false},
	"resnet34":  {Basic, []int{3, 4, 6, 3}, false},
	"resnet50":  {Bottleneck, []int{3, 4, 6, 3}, false},
	"resnet101": {Bottleneck, []int{3, 4, 23, 3}, false},
	"resnet152": {Bottleneck, []int{3, 8, 36, 3}, false},
	"resnet20":  {Basic, []int{3, 3, 3}, true},
	"resnet32":  {Basic, []int{5, 5, 5}, true},
	"resnet44":  {Basic, []int{7, 7, 7}, true},
	"resnet56":  {Basic, []int{9, 9, 9}, true},
	"resnet110": {Basic, []int{18, 18, 18}, true},
}

// Names returns the model names Build accepts, ImageNet layouts first, each
// group by depth.
func Names() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := archs[names[i]], archs[names[j]]
		if a.CIFAR != b.CIFAR {
			return !a.CIFAR
		}
		return a.depth() < b.depth()
	})
	return names
}

// Lookup returns the architecture of a model name.
func Lookup(name string) (Arch, error) {
	a, ok := archs[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown model %q: expected one of %v", name, Names())
	}
	return a, nil
}

// Describe says in a line what the architecture is: its blocks, and its
// layout with the classes and input size Build gives it by default (what
// `bot-onnx models` lists).
func (a Arch) Describe() string {
	block := "basic blocks"
	if a.Block == Bottleneck {
		block = "bottleneck blocks"
	}
	if a.CIFAR {
		return block + ", CIFAR layout (3×3 stem, 3 stages of 16/32/64), 10 classes, 3x32x32"
	}
	return block + ", ImageNet layout (7×7 stem, max pool, 4 stages), 1000 classes, 3x224x224"
}

// depth counts the weighted layers: convs on the main path plus the classifier.
func (a Arch) depth() int {
	perBlock := 2
	if a.Block == Bottleneck {
		perBlock = 3
	}
	n := 0
	for _, l := range a.Layers {
		n += l
	}
	return n*perBlock + 2
}

// Config chooses a model and its options. Zero values take the layout's
// defaults: 1000 classes and 3×224×224 input for ImageNet models, 10 classes
// and 3×32×32 for CIFAR ones; base width 64 (ImageNet) or 16 (CIFAR).
type Config struct {
	Model      string
	Classes    int
	InChannels int
	Height     int
	Width      int
	// BaseWidth is the first stage's channel count; later stages double it.
	BaseWidth int
	// Seed makes the initial weights reproducible.
	Seed uint64
}

// withDefaults fills zero fields with the layout's defaults.
func (c Config) withDefaults(a Arch) Config {
	def := func(v *int, imagenet, cifar int) {
		if *v == 0 {
			*v = imagenet
			if a.CIFAR {
				*v = cifar
			}
		}
	}
	def(&c.Classes, 1000, 10)
	def(&c.InChannels, 3, 3)
	def(&c.Height, 224, 32)
	def(&c.Width, 224, 32)
	def(&c.BaseWidth, 64, 16)
	return c
}

// maxTensorBytes is the most one weight may take: an ONNX file is one
// protocol buffer, which cannot exceed 2 GiB.
const maxTensorBytes = 2 << 30

// checkSize refuses a configuration whose largest weights — the stem's
// conv (input channels), a last-stage 3×3 conv (base width) or the fully
// connected layer (classes) — could not be written to an ONNX file, before
// any is allocated: a typo such as 1000000000 input channels must not end
// in the Go runtime's out-of-memory crash.
func checkSize(cfg Config, a Arch) error {
	stem := int64(7 * 7)
	if a.CIFAR {
		stem = 3 * 3
	}
	last := 8 * int64(cfg.BaseWidth)
	if a.CIFAR {
		last = 4 * int64(cfg.BaseWidth)
	}
	features := last
	if a.Block == Bottleneck {
		features *= 4
	}
	for _, w := range []struct {
		what     string
		elements float64
	}{
		{fmt.Sprintf("the stem's conv for %d input channels", cfg.InChannels), float64(cfg.BaseWidth) * float64(cfg.InChannels) * float64(stem)},
		{fmt.Sprintf("a last-stage conv for base width %d", cfg.BaseWidth), float64(last) * float64(last) * 9},
		{fmt.Sprintf("the fully connected layer for %d classes", cfg.Classes), float64(features) * float64(cfg.Classes)},
	} {
		if bytes := 4 * w.elements; bytes > maxTensorBytes {
			return fmt.Errorf("%s: %s would take %.3g GB, more than an ONNX file can hold (2 GiB)", cfg.Model, w.what, bytes/1e9)
		}
	}
	return nil
}

// Metadata keys written into every built model, read by later stages.
const (
	MetaModel   = "bot-onnx.model"
	MetaVariant = "bot-onnx.variant"
	MetaSeed    = "bot-onnx.seed"
)

// Build makes the ResNet-A graph of cfg with freshly initialised weights:
// conv and fc weights Xavier-uniform (U[−a, a], a = √(6 / (fan_in + fan_out)),
// fan = channels × kernel area), fc bias 0, BatchNorm γ = 1, β = 0, running
// mean 0 and variance 1 — the paper's section 2 initialisation. The same
// seed gives the same weights. The input is `input` [batch, C, H, W] with a
// dynamic batch; the output is `logits` [batch, classes].
func Build(cfg Config) (*graph.Model, error) {
	arch, err := Lookup(cfg.Model)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(arch)
	if cfg.Classes < 1 || cfg.InChannels < 1 || cfg.Height < 1 || cfg.Width < 1 || cfg.BaseWidth < 1 {
		return nil, fmt.Errorf("%s: classes, input channels, height, width and base width must be positive, found %d, %d, %d, %d, %d",
			cfg.Model, cfg.Classes, cfg.InChannels, cfg.Height, cfg.Width, cfg.BaseWidth)
	}
	if err := checkSize(cfg, arch); err != nil {
		return nil, err
	}
	r := &resnet{
		b:   graph.NewBuilder(cfg.Model, graph.DefaultOpset),
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x62_6f_74_2d_6f_6e_6e_78)),
	}
	x := r.b.Input("input", graph.Shape{{Param: "batch"}, {Size: int64(cfg.InChannels)}, {Size: int64(cfg.Height)}, {Size: int64(cfg.Width)}})
	width := int64(cfg.BaseWidth)
	if arch.CIFAR {
		x = r.convBN("conv1", "bn1", x, int64(cfg.InChannels), width, 3, 1)
		x = r.b.Relu("relu", x)
	} else {
		x = r.convBN("conv1", "bn1", x, int64(cfg.InChannels), width, 7, 2)
		x = r.b.Relu("relu", x)
		x = r.b.MaxPool("maxpool", x, graph.PoolAttrs{Kernel: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Pads: [4]int64{1, 1, 1, 1}})
	}
	in := width
	for stage, blocks := range arch.Layers {
		planes := width << stage
		for i := 0; i < blocks; i++ {
			stride := int64(1)
			if stage > 0 && i == 0 {
				stride = 2
			}
			prefix := fmt.Sprintf("layer%d.%d", stage+1, i)
			if arch.Block == Bottleneck {
				x, in = r.bottleneck(prefix, x, in, planes, stride), planes*4
			} else {
				x, in = r.basic(prefix, x, in, planes, stride), planes
			}
		}
	}
	x = r.b.GlobalAveragePool("avgpool", x)
	x = r.b.Flatten("flatten", x, 1)
	classes := int64(cfg.Classes)
	w := r.b.Param("fc.weight", []int64{classes, in}, r.xavier(classes*in, in, classes))
	bias := r.b.Param("fc.bias", []int64{classes}, make([]float32, classes))
	r.b.Output(r.b.Gemm("fc", x, w, bias), "logits")
	m, err := r.b.Finish("bot-onnx", "")
	if err != nil {
		return nil, fmt.Errorf("%s with input %dx%dx%d: %w", cfg.Model, cfg.InChannels, cfg.Height, cfg.Width, err)
	}
	m.SetMetadata(MetaModel, cfg.Model)
	m.SetMetadata(MetaVariant, "A")
	m.SetMetadata(MetaSeed, fmt.Sprint(cfg.Seed))
	return m, nil
}

// resnet carries the builder and the initialiser's random stream.
type resnet struct {
	b   *graph.Builder
	rng *rand.Rand
}

// xavier draws n values from Xavier's uniform distribution.
func (r *resnet) xavier(n, fanIn, fanOut int64) []float32 {
	return XavierUniform(r.rng, n, fanIn, fanOut)
}

// XavierUniform draws n weights from U[−a, a], a = √(6 / (fanIn + fanOut)):
// the paper's initialisation for conv and fc weights, where a fan is
// channels × kernel area.
func XavierUniform(rng *rand.Rand, n, fanIn, fanOut int64) []float32 {
	a := math.Sqrt(6 / float64(fanIn+fanOut))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32((2*rng.Float64() - 1) * a)
	}
	return w
}

// convBN adds a bias-free k×k conv (padding k/2) and its BatchNorm.
func (r *resnet) convBN(conv, bn, x string, in, out, k, stride int64) string {
	area := k * k
	w := r.b.Param(conv+".weight", []int64{out, in, k, k}, r.xavier(out*in*area, in*area, out*area))
	p := k / 2
	x = r.b.Conv(conv, x, w, "", graph.ConvAttrs{Kernel: [2]int64{k, k}, Stride: [2]int64{stride, stride}, Pads: [4]int64{p, p, p, p}})
	return r.batchNorm(bn, x, out)
}

func (r *resnet) batchNorm(name, x string, channels int64) string {
	return r.b.NewBatchNorm(name, x, channels, 1e-5, 0.9)
}

// shortcut is the identity, or a 1×1 projection conv + BN when the block
// changes the channel count or the resolution.
func (r *resnet) shortcut(prefix, x string, in, out, stride int64) string {
	if in == out && stride == 1 {
		return x
	}
	return r.convBN(prefix+".downsample.0", prefix+".downsample.1", x, in, out, 1, stride)
}

func (r *resnet) basic(prefix, x string, in, planes, stride int64) string {
	y := r.convBN(prefix+".conv1", prefix+".bn1", x, in, planes, 3, stride)
	y = r.b.Relu(prefix+".relu1", y)
	y = r.convBN(prefix+".conv2", prefix+".bn2", y, planes, planes, 3, 1)
	identity := r.shortcut(prefix, x, in, planes, stride)
	return r.b.Relu(prefix+".relu", r.b.Add(prefix+".add", y, identity))
}

// bottleneck is ResNet-A's bottleneck: the stride sits on the first 1×1 conv.
func (r *resnet) bottleneck(prefix, x string, in, planes, stride int64) string {
	out := planes * 4
	y := r.convBN(prefix+".conv1", prefix+".bn1", x, in, planes, 1, stride)
	y = r.b.Relu(prefix+".relu1", y)
	y = r.convBN(prefix+".conv2", prefix+".bn2", y, planes, planes, 3, 1)
	y = r.b.Relu(prefix+".relu2", y)
	y = r.convBN(prefix+".conv3", prefix+".bn3", y, planes, out, 1, 1)
	identity := r.shortcut(prefix, x, in, out, stride)
	return r.b.Relu(prefix+".relu", r.b.Add(prefix+".add", y, identity))
}
