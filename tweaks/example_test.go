package tweaks_test

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// ResNet-50-A rewritten into ResNet-D. The parameter count is the paper's
// (torchvision's 25,557,032 plus the deep stem's 19,232); B and D change
// the first block of stages 2–4, where the resolution halves (stage 1's
// projection has stride 1), and C the stem.
func ExampleApply() {
	a, err := models.Build(models.Config{Model: "resnet50"})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, reports, err := tweaks.Apply(a, []tweaks.Pass{tweaks.B, tweaks.C, tweaks.D}, tweaks.Options{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range reports {
		var blocks []string
		for _, c := range r.Changes {
			blocks = append(blocks, c.Block)
		}
		fmt.Printf("pass %s changed %v\n", r.Pass, blocks)
	}
	variant, _ := d.Metadata(models.MetaVariant)
	counts, _ := graph.Count(d)
	fmt.Printf("ResNet-50-%s: %d parameters\n", variant, counts.Params)
	// Output:
	// pass B changed [layer2.0 layer3.0 layer4.0]
	// pass C changed [stem]
	// pass D changed [layer2.0 layer3.0 layer4.0]
	// ResNet-50-D: 25576264 parameters
}

// A pass with nothing to do says why: the CIFAR layout's basic blocks and
// 3×3 stem leave B and C nothing, and D pools the two strided shortcuts.
func ExampleBuild() {
	_, reports, err := tweaks.Build(models.Config{Model: "resnet20"}, "D")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range reports {
		if len(r.Changes) == 0 {
			fmt.Printf("pass %s: %s\n", r.Pass, r.Note)
		} else {
			fmt.Printf("pass %s: %d changes\n", r.Pass, len(r.Changes))
		}
	}
	// Output:
	// pass B: nothing to change: basic blocks carry the stride on their 3×3 conv already
	// pass C: nothing to change: the stem is a single 3×3 stride-1 conv (CIFAR layout); pass C replaces a 7×7 ImageNet stem
	// pass D: 2 changes
}
