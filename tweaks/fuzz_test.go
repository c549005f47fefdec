package tweaks

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/structure"
)

// fuzzConfigs are the small models the fuzz seeds are built from: a CIFAR
// ResNet-20 with basic blocks and a 3×3 stem, and ImageNet layouts with a
// 7×7 stem and max pool, of basic blocks (ResNet-18) and bottlenecks
// (ResNet-50), all at base width 1 so each seed is a few kilobytes.
// ResNet-50 is an in-code seed of FuzzTweak only: its 16 blocks would make
// a corpus file of over 64 KB; the corpus has torchvision bottlenecks.
var fuzzConfigs = map[string]models.Config{
	"resnet20": {Model: "resnet20", BaseWidth: 1, InChannels: 1, Height: 8, Width: 8},
	"resnet18": {Model: "resnet18", BaseWidth: 1, Classes: 10, Height: 32, Width: 32},
	"resnet50": {Model: "resnet50", BaseWidth: 1, Classes: 10, Height: 32, Width: 32},
}

// FuzzTweak: mutated ResNets that pass validation go through each pass and
// all three together. A pass may refuse a graph with an error, but never
// panics, never touches its input, never makes an invalid model (Apply
// reports that as a *graph.ValidationError), and is idempotent: applying
// the same passes to its result changes nothing and reports no change.
// The structure queries export and the trainer use run on every model
// that decodes, valid or not.
func FuzzTweak(f *testing.F) {
	for _, name := range []string{"resnet20", "resnet50"} {
		m, err := models.Build(fuzzConfigs[name])
		if err != nil {
			f.Fatal(err)
		}
		data, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := graph.Decode(data)
		if err != nil {
			return
		}
		// Models are compared by their deterministic encoding: much faster
		// than graph.Equal's reflection, and stricter (NaN weights too).
		input := encode(t, m)
		// Export and the trainer query the structure of models that
		// Validate may not have seen.
		structure.BlockOutputs(m)
		structure.LastBlockNorms(m)
		if !bytes.Equal(encode(t, m), input) {
			t.Fatal("BlockOutputs or LastBlockNorms changed its input")
		}
		if graph.Validate(m) != nil {
			return
		}
		for _, passes := range [][]Pass{{B}, {C}, {D}, {B, C, D}} {
			out, reports, err := Apply(m, passes, Options{Seed: 1})
			if !bytes.Equal(encode(t, m), input) {
				t.Fatalf("Apply %v changed its input", passes)
			}
			if err != nil {
				var ve *graph.ValidationError
				if errors.As(err, &ve) {
					t.Fatalf("Apply %v made an invalid model: %v", passes, err)
				}
				if out != nil || reports != nil {
					t.Fatalf("Apply %v returned a model or reports with error %v", passes, err)
				}
				continue
			}
			if err := graph.Validate(out); err != nil {
				t.Fatalf("Apply %v: %v", passes, err)
			}
			again, reports, err := Apply(out, passes, Options{Seed: 2})
			if err != nil {
				t.Fatalf("Apply %v accepted the model but not its own result: %v", passes, err)
			}
			for _, r := range reports {
				if len(r.Changes) > 0 {
					t.Fatalf("Apply %v is not idempotent: the second run changed %v", passes, r.Changes)
				}
			}
			if !bytes.Equal(encode(t, again), encode(t, out)) {
				t.Fatalf("Apply %v is not idempotent: the second run changed the model", passes)
			}
		}
	})
}

func encode(t *testing.T, m *graph.Model) []byte {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The fuzz corpora live in testdata/fuzz/<fuzzer> of packages graph and
// tweaks; TestWriteFuzzSeeds rewrites their generated seeds (not the
// crashers kept beside them) when BOT_ONNX_WRITE_FUZZ_SEEDS=1.
const writeSeedsEnv = "BOT_ONNX_WRITE_FUZZ_SEEDS"

// TestWriteFuzzSeeds writes the seed corpora of FuzzLoad, FuzzValidate
// (package graph) and FuzzTweak: ResNet-20 and ResNet-18 of fuzzConfigs as
// ResNet-A and ResNet-D, shrunk torchvision exports from
// testdata/make_fuzz_seeds.py (Debian python3-torch and
// python3-torchvision under /usr/bin/python3), kept byte for byte, and the
// regression inputs of regressionSeeds. FuzzLoad gets three models: it
// tests decoding, not models.
//
//	BOT_ONNX_WRITE_FUZZ_SEEDS=1 go test -run '^TestWriteFuzzSeeds$' ./tweaks/
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv(writeSeedsEnv) != "1" {
		t.Skip("set " + writeSeedsEnv + "=1 to rewrite the fuzz seed corpora")
	}
	seeds := map[string][]byte{}
	for _, name := range []string{"resnet20", "resnet18"} {
		for _, variant := range []string{"A", "D"} {
			m, err := models.Build(fuzzConfigs[name])
			if err != nil {
				t.Fatal(err)
			}
			passes, err := ForVariant(variant)
			if err != nil {
				t.Fatal(err)
			}
			if m, _, err = Apply(m, passes, Options{}); err != nil {
				t.Fatal(err)
			}
			data, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			seeds[fmt.Sprintf("%s-w1-%s", name, variant)] = data
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("/usr/bin/python3", filepath.Join("testdata", "make_fuzz_seeds.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("testdata/make_fuzz_seeds.py: %v\n%s", err, out)
	}
	for _, name := range []string{"basic-folded", "basic-bn", "bottleneck-folded", "bottleneck-bn"} {
		data, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		seeds["torchvision-"+name] = data
	}
	all := make([]string, 0, len(seeds))
	for name, data := range seeds {
		m, err := graph.Decode(data)
		if err == nil {
			err = graph.Validate(m)
		}
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		all = append(all, name)
	}
	slices.Sort(all)
	graphRegressions, tweakRegressions := regressionSeeds(t)
	for name, data := range graphRegressions {
		seeds[name] = data
	}
	for name, data := range tweakRegressions {
		seeds[name] = data
	}
	for _, c := range []struct {
		dir   string
		names []string
	}{
		{"../graph/testdata/fuzz/FuzzLoad", []string{"resnet20-w1-A", "torchvision-basic-folded", "torchvision-bottleneck-bn"}},
		{"../graph/testdata/fuzz/FuzzValidate", append(slices.Sorted(maps.Keys(graphRegressions)), all...)},
		{"testdata/fuzz/FuzzTweak", append(slices.Sorted(maps.Keys(tweakRegressions)), all...)},
	} {
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range c.names {
			file := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seeds[name])
			if len(file) >= 64<<10 {
				t.Errorf("seed %s: %d bytes, want under 64 KiB", name, len(file))
				continue
			}
			if err := os.WriteFile(filepath.Join(c.dir, name), []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// tinyResNet builds the smallest graph the passes take for a ResNet: input
// 1×16×16, a 7×7 stride-2 stem conv and ReLU, a basic block of two 3×3
// convs with an identity shortcut ("block1"), and one that doubles the
// channels at stride 2 with a 1×1 projection shortcut ("block2").
func tinyResNet(t *testing.T) *graph.Model {
	t.Helper()
	b := graph.NewBuilder("tiny", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 16}, {Size: 16}})
	conv := func(name, x string, in, out, k, stride int64) string {
		w := b.Param(name+".weight", []int64{out, in, k, k}, make([]float32, out*in*k*k))
		return b.Conv(name, x, w, "", graph.ConvAttrs{Kernel: [2]int64{k, k}, Stride: [2]int64{stride, stride}, Pads: [4]int64{k / 2, k / 2, k / 2, k / 2}})
	}
	block := func(name, x string, in, out, stride int64) string {
		y := b.Relu(name+".relu1", conv(name+".conv1", x, in, out, 3, stride))
		y = conv(name+".conv2", y, out, out, 3, 1)
		if in != out || stride != 1 {
			x = conv(name+".shortcut", x, in, out, 1, stride)
		}
		return b.Relu(name+".relu", b.Add(name+".add", y, x))
	}
	x = b.Relu("relu", conv("conv1", x, 1, 1, 7, 2))
	b.Output(block("block2", block("block1", x, 1, 1, 1), 1, 2, 2), "output")
	m, err := b.Finish("bot-onnx fuzz seeds", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// regressionSeeds returns inputs that crashed graph (for FuzzValidate) and
// tweaks (for FuzzTweak) before their fixes, each a tinyResNet with one
// flaw, keyed by what the flaw is.
func regressionSeeds(t *testing.T) (graphSeeds, tweakSeeds map[string][]byte) {
	node := func(m *graph.Model, name string) *onnx.NodeProto {
		for _, n := range m.GetGraph().GetNode() {
			if n.GetName() == name {
				return n
			}
		}
		t.Fatalf("tinyResNet has no node %q", name)
		return nil
	}
	flawed := func(flaw func(m *graph.Model)) []byte {
		m := tinyResNet(t)
		flaw(m)
		return encode(t, m)
	}
	graphSeeds = map[string][]byte{
		// Count indexed a Conv's weight input that a conv with unknown
		// input shapes lacked.
		"regress-count-conv-without-weight": flawed(func(m *graph.Model) {
			m.GetGraph().GetInput()[0].Type = nil
			c := node(m, "conv1")
			c.Input = c.Input[:1]
		}),
		// Count sliced the dimensions of a Conv weight that was a scalar.
		"regress-count-scalar-conv-weight": flawed(func(m *graph.Model) {
			m.GetGraph().GetInput()[0].Type = nil
			w := m.Initializer("conv1.weight")
			w.Dims, w.RawData = nil, w.RawData[:4]
		}),
		// Floats sized its result by 4·elements, which wrapped around to
		// the 4 bytes held.
		"regress-floats-size-overflow": flawed(func(m *graph.Model) {
			m.SetInitializer(graph.FloatTensor("huge", []int64{1}, []float32{1}))
			m.Initializer("huge").Dims = []int64{1<<62 + 1}
		}),
		// Float16s allocated the declared elements before looking at the data.
		"regress-float16s-huge-dims": flawed(func(m *graph.Model) {
			m.SetInitializer(&onnx.TensorProto{Name: "huge", Dims: []int64{1 << 40}, DataType: graph.Float16})
		}),
	}
	tweakSeeds = map[string][]byte{
		// Validate took declared weight shapes on trust, and pass C sized
		// its new stem weights by them: about 19 GB here.
		"regress-stem-weight-huge-dims": flawed(func(m *graph.Model) {
			const c = 1 << 30
			m.Initializer("conv1.weight").Dims[0] = c
			m.Initializer("block1.conv1.weight").Dims[1] = c
			m.Initializer("block1.conv2.weight").Dims[0] = c
			m.Initializer("block2.conv1.weight").Dims[1] = c
			m.Initializer("block2.shortcut.weight").Dims[1] = c
		}),
		// The stem walk read the first input of a node that had none, in a
		// graph only BlockOutputs and LastBlockNorms take unvalidated.
		"regress-stem-node-without-input": flawed(func(m *graph.Model) {
			node(m, "relu").Input = nil
		}),
		// BlockOutputs read the output of an Add that had none; an
		// Identity hands the old output on.
		"regress-add-without-output": flawed(func(m *graph.Model) {
			a := node(m, "block1.add")
			id := &onnx.NodeProto{Name: "block1.skip", OpType: "Identity", Input: a.GetInput()[1:], Output: a.GetOutput()}
			a.Output = nil
			graph.InsertBefore(m.GetGraph(), a, id)
		}),
		// Pass C read the weight input of a stem conv of another domain,
		// whose inputs Validate does not check, that had none.
		"regress-stem-conv-without-weight": flawed(func(m *graph.Model) {
			c := node(m, "conv1")
			c.Domain, c.Input = "com.example", c.Input[:1]
		}),
		// Pass D divided sizes by the strides of a projection conv of
		// another domain, whose strides Validate does not check.
		"regress-shortcut-of-another-domain": flawed(func(m *graph.Model) {
			c := node(m, "block2.shortcut")
			c.Domain = "com.example"
			graph.SetAttr(c, graph.AttrInts("strides", 0, 0))
		}),
	}
	return graphSeeds, tweakSeeds
}
