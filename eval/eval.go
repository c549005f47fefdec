// Package eval runs a model over a test split and scores what it outputs:
// one loop for every model and every task.
//
// A [Model] runs a batch of images and returns its output and the output's
// shape: the training engine's evaluation net (package train) and an ONNX
// Runtime session ([ORT]) are the two. [Run] cuts the test split into
// batches in order, pads the last one where the model takes a fixed batch
// size, trims the padding from the output, and hands every batch's output
// with its labels to [Consumer]s: the metrics [Classification] (loss,
// top-1, top-5) and [Segmentation] (pixel accuracy, mean IoU, loss), or
// anything else that reads outputs, such as pictures of predictions. A
// new task (detection) is a new Consumer, and a new kind of label a new
// case of [Set].
//
// The trainer's test figures and ONNX Runtime's come out of the same code,
// so they agree to the last digit when the outputs do.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bot-onnx/bot-onnx/train/data"
)

// Model runs batches of images.
type Model interface {
	// Batch returns the number of images Run takes: the model's fixed
	// batch size, or 0 when it takes any number.
	Batch() int
	// Run runs the model on images of shape [N C H W], row-major, and
	// returns its output, whose first dimension is N. The output may be
	// overwritten by the next Run.
	Run(images []float32, shape []int64) (Output, error)
}

// Output is a model's output for a batch: Shape[0] images, row-major.
type Output struct {
	Shape []int64
	Data  []float32
}

// Consumer takes a model's outputs batch by batch: a metric, or anything
// else that reads them.
type Consumer interface {
	// Add takes the output for the b.N examples of batch b (padding
	// trimmed); out is valid during the call only.
	Add(out Output, b *data.Batch) error
}

// Set is a test split: a data.Dataset, labelled per image, or a
// data.DenseDataset, labelled per pixel.
type Set interface {
	Len() int
	Shape() (c, h, w int)
	Classes() int
}

// Options say how Run batches and reports.
type Options struct {
	// Batch is the number of images a run; 0 takes the model's fixed batch
	// size. A model with a fixed batch size takes only its own.
	Batch int
	// Workers is the number of goroutines that fill batches ahead
	// (data.LoaderConfig.Workers).
	Workers int
	// Progress, when set, is called after each batch.
	Progress func(Progress)
}

// Progress is how far Run has gone. Status is for callers that wrap Run
// to fill (a running figure, e.g. "top-1 97.12%"); Run leaves it empty.
type Progress struct {
	Done, Total int
	Status      string
}

// Stats are what Run measured of the run itself.
type Stats struct {
	// Images is the number of examples evaluated.
	Images int
	// Inference is the time spent in Model.Run; Elapsed the whole
	// evaluation, data loading included.
	Inference, Elapsed time.Duration
}

// Run runs m over every example of test, in order, and hands each batch's
// output to the consumers. Cancelling ctx stops it with an error that
// says how far it got.
func Run(ctx context.Context, m Model, test Set, o Options, consumers ...Consumer) (Stats, error) {
	start := time.Now()
	var st Stats
	fixed, batch := m.Batch(), o.Batch
	if batch == 0 {
		batch = fixed
	}
	switch {
	case batch < 1:
		return st, fmt.Errorf("eval: batch size %d: expected at least 1", batch)
	case fixed > 0 && batch != fixed:
		return st, fmt.Errorf("eval: batch size %d: the model takes a fixed batch of %d", batch, fixed)
	}
	loader, err := newLoader(test, data.LoaderConfig{BatchSize: batch, Workers: o.Workers})
	if err != nil {
		return st, err
	}
	it, err := loader.Epoch(ctx, 0, 0)
	if err != nil {
		return st, err
	}
	defer it.Close()
	c, h, w := test.Shape()
	size := c * h * w
	var padded []float32
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return st, fmt.Errorf("eval interrupted after %d of %d images: %w", st.Images, test.Len(), context.Cause(ctx))
			}
			return st, err
		}
		images, n := b.Images[:b.N*size], b.N
		if n < fixed {
			// The padding's outputs are trimmed below: it only fills the
			// model's fixed batch.
			padded = append(append(padded[:0], images...), make([]float32, (fixed-n)*size)...)
			images, n = padded, fixed
		}
		runStart := time.Now()
		out, err := m.Run(images, []int64{int64(n), int64(c), int64(h), int64(w)})
		if err != nil {
			return st, err
		}
		st.Inference += time.Since(runStart)
		if out, err = trim(out, n, b.N); err != nil {
			return st, err
		}
		for _, consumer := range consumers {
			if err := consumer.Add(out, b); err != nil {
				return st, err
			}
		}
		st.Images += b.N
		if o.Progress != nil {
			o.Progress(Progress{Done: st.Images, Total: test.Len()})
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// newLoader makes the loader of test, in index order.
func newLoader(test Set, cfg data.LoaderConfig) (*data.Loader, error) {
	switch d := test.(type) {
	case data.Dataset:
		return data.NewLoader(d, cfg)
	case data.DenseDataset:
		return data.NewDenseLoader(d, cfg)
	}
	return nil, fmt.Errorf("eval: a test split of type %T: expected a data.Dataset or a data.DenseDataset", test)
}

// trim checks that out holds one output for each of the n images run and
// returns the first keep of them.
func trim(out Output, n, keep int) (Output, error) {
	size := int64(1)
	for _, d := range out.Shape {
		size *= d
	}
	if len(out.Shape) < 2 || out.Shape[0] != int64(n) || size != int64(len(out.Data)) {
		return out, fmt.Errorf("eval: output of shape %v (%d values) for %d images: expected [%d …]", out.Shape, len(out.Data), n, n)
	}
	shape := append([]int64{int64(keep)}, out.Shape[1:]...)
	return Output{Shape: shape, Data: out.Data[:len(out.Data)/n*keep]}, nil
}
