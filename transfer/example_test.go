package transfer_test

import (
	"fmt"
	"strings"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// An FCN head for 11 classes (ten digits and the background, as the
// digit-canvas task has) on the c2 feature of a ResNet-20-D backbone at
// 32×32. Plan.Run does this grafting, then trains the result and scores it
// in ONNX Runtime. ResNet-20's c2 is its last stage, 64 channels at stride
// 4; the head adds a 3×3 conv to max(64/4, 16) = 16 channels (9,216
// weights), a BatchNorm (16 γ, 16 β, and running statistics that are not
// parameters) and a 1×1 conv to 11 classes with bias (187): 9,435, then
// upsamples ×4 back to 32×32.
func ExampleFCNHead() {
	m, _, err := tweaks.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 32, Width: 32}, "D")
	if err != nil {
		fmt.Println(err)
		return
	}
	backbone, _, err := export.Build(m, export.Options{Head: export.Backbone, Features: []string{"c2"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	seg, err := transfer.FCNHead(backbone, "c2", 11, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	var params int64
	for _, t := range seg.GetGraph().GetInitializer() {
		name := t.GetName()
		if !strings.HasPrefix(name, "classifier.") || strings.HasSuffix(name, "running_mean") || strings.HasSuffix(name, "running_var") {
			continue
		}
		n := int64(1)
		for _, d := range t.GetDims() {
			n *= d
		}
		params += n
	}
	fmt.Println("head parameters:", params)
	for _, n := range seg.GetGraph().GetNode() {
		if n.GetOpType() == "Resize" {
			fmt.Println("upsampled by Resize", n.GetName(), "to", n.GetOutput()[0])
		}
	}
	// Output:
	// head parameters: 9435
	// upsampled by Resize upsample to logits
}
