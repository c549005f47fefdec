package train

import (
	"testing"

	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

func BenchmarkTrainStepResNet20BF16(b *testing.B) {
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32})
	if err != nil {
		b.Fatal(err)
	}
	times, err := StepTimes(m, 128, 0, kernel.BF16, 2, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(128/Median(times).Seconds(), "images/s")
}
