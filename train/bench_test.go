package train

import (
	"testing"

	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// BenchmarkTrainStep times full training steps of ResNet-20 at batch 128
// on 3×32×32 random data, in float32 and, where the CPU has bfloat16
// arithmetic, in bf16; `bot-onnx bench train` sets them beside PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	m, err := models.Build(models.Config{Model: "resnet20"})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []kernel.Precision{kernel.FP32, kernel.BF16} {
		b.Run(p.String(), func(b *testing.B) {
			if p == kernel.BF16 {
				if err := kernel.BF16Support(); err != nil {
					b.Skip(err)
				}
			}
			timing, err := StepTimes(m, 128, 0, p, 2, b.N, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(128/Median(timing.Steps).Seconds(), "images/s")
		})
	}
}
