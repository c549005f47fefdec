package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// PixelScore accumulates the evaluation of per-pixel logits against label
// maps, batch by batch: the confusion matrix (pixel accuracy, IoU, mean
// IoU as package segment defines them) and the mean softmax cross-entropy
// over the labelled pixels, the loss the trainer minimises. The trainer's
// evaluation and ONNX Runtime's (bot-onnx transfer) both score with it, so
// their figures are comparable to the last digit.
type PixelScore struct {
	Confusion *segment.Confusion
	lossSum   float64
	pixels    int64
	pred      []int32
}

// NewPixelScore returns an empty score for logits of classes classes;
// label maps mark unlabelled pixels with IgnoreLabel.
func NewPixelScore(classes int) (*PixelScore, error) {
	c, err := segment.NewConfusion(classes, IgnoreLabel)
	if err != nil {
		return nil, err
	}
	return &PixelScore{Confusion: c}, nil
}

// Add scores logits of shape [N, K, H, W] (K the score's classes) against
// N label maps of H×W, laid end to end.
func (s *PixelScore) Add(logits []float32, shape []int64, labels []int32) error {
	if len(shape) != 4 || shape[1] != int64(s.Confusion.Classes()) {
		return fmt.Errorf("per-pixel logits of shape %v: expected [N %d H W]", shape, s.Confusion.Classes())
	}
	if cap(s.pred) < len(labels) {
		s.pred = make([]int32, len(labels))
	}
	pred := s.pred[:len(labels)]
	if err := segment.Argmax(logits, shape, pred); err != nil {
		return err
	}
	if err := s.Confusion.Add(pred, labels); err != nil {
		return err
	}
	k, plane := int(shape[1]), int(shape[2]*shape[3])
	for i, label := range labels {
		if label == IgnoreLabel {
			continue
		}
		n, p := i/plane, i%plane
		at := func(c int) float64 { return float64(logits[(n*k+c)*plane+p]) }
		top := math.Inf(-1)
		for c := range k {
			top = max(top, at(c))
		}
		sum := 0.0
		for c := range k {
			sum += math.Exp(at(c) - top)
		}
		s.lossSum += math.Log(sum) + top - at(int(label))
		s.pixels++
	}
	return nil
}

// Loss returns the mean cross-entropy over the labelled pixels added (0
// when there are none).
func (s *PixelScore) Loss() float64 {
	return s.lossSum / float64(max(s.pixels, 1))
}

// predictDense runs an evaluation net with per-pixel logits over a data
// set labelled per pixel, in order, and scores every pixel. A last partial
// batch is padded with zeros, whose outputs are left out. workers
// goroutines fill batches ahead.
func predictDense(ctx context.Context, net *Net[float32], d data.DenseDataset, workers int) (*PixelScore, error) {
	loader, err := data.NewDenseLoader(d, data.LoaderConfig{BatchSize: net.Batch, Workers: workers})
	if err != nil {
		return nil, err
	}
	it, err := loader.Epoch(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	shape := net.logits.Shape()
	s, err := NewPixelScore(shape[1])
	if err != nil {
		return nil, err
	}
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		in := net.Input()
		n := copy(in, b.Images)
		clear(in[n:])
		if err := net.Run(); err != nil {
			return nil, err
		}
		out := net.Logits()
		size := len(out) / net.Batch
		if err := s.Add(out[:b.N*size], []int64{int64(b.N), int64(shape[1]), int64(shape[2]), int64(shape[3])}, b.Dense); err != nil {
			return nil, err
		}
	}
}

// countLabelled returns the number of labels that are not IgnoreLabel.
func countLabelled(labels []int32) int {
	n := 0
	for _, l := range labels {
		if l != IgnoreLabel {
			n++
		}
	}
	return n
}
