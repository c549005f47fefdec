package export_test

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// A ResNet-18-D cut into a backbone that outputs two stage ends, built in
// memory; export.File does the same, then writes the file once ONNX
// Runtime has run it and matched the source. torchvision's ResNet-18 ends
// stage 3 (c3) at stride 8 with 128 channels and stage 5 (c5) at stride 32
// with 512: at a 64×64 input, 8×8 and 2×2 maps.
func ExampleBuild() {
	m, _, err := tweaks.Build(models.Config{Model: "resnet18", Height: 64, Width: 64}, "D")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, res, err := export.Build(m, export.Options{Head: export.Backbone, Features: []string{"c3", "c5"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range res.Features {
		fmt.Printf("%s: stride %d, %d channels\n", f.Name, f.Stride, f.Channels)
	}
	for _, v := range res.Outputs {
		fmt.Println("output", v.Name, v.Type, v.Shape)
	}
	// Output:
	// c3: stride 8, 128 channels
	// c5: stride 32, 512 channels
	// output c3 float batch×128×8×8
	// output c5 float batch×512×2×2
}
