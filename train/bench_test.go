package train

import (
	"testing"

	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// BenchmarkTrainStepResNet20 times ResNet-20 training steps at batch 128,
// 3×32×32, one replica per core: the configuration compared with PyTorch
// by `bot-onnx bench train`.
func BenchmarkTrainStepResNet20(b *testing.B) {
	m, err := models.Build(models.Config{Model: "resnet20"})
	if err != nil {
		b.Fatal(err)
	}
	times, err := StepTimes(m, 128, 0, kernel.FP32, 2, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(128/Median(times).Seconds(), "images/s")
}
