package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// loaderDir checks cfg's loader settings and returns the folder of Data.
func loaderDir(cfg TrainConfig) (string, error) {
	dir, ok := strings.CutPrefix(cfg.Data, "folder:")
	if !ok || dir == "" {
		return "", &train.FieldError{Field: "Data", Value: cfg.Data, Want: "folder:DIR"}
	}
	if c, h, w := cfg.Input[0], cfg.Input[1], cfg.Input[2]; h != w || (c != 1 && c != 3) {
		return "", &train.FieldError{Field: "Input", Value: fmt.Sprintf("%dx%dx%d", c, h, w), Want: "a square 1- or 3-channel input for image folders"}
	}
	if cfg.Workers < 1 {
		return "", &train.FieldError{Field: "Workers", Value: cfg.Workers, Want: "a positive count"}
	}
	return dir, nil
}

// measureLoader measures the image-folder loader of dir alone, then
// spec's training steps fed by it, into res.
func measureLoader(ctx context.Context, cfg TrainConfig, dir string, spec TrainSpec, res *TrainResult) error {
	c, h := cfg.Input[0], cfg.Input[1]
	opts := augment.DefaultTrainOptions(int(h))
	if c == 1 {
		opts.Channels, opts.Lighting, opts.Mean, opts.Std = 1, false, []float64{117}, []float64{58}
	}
	pipe, err := augment.NewTrain(opts)
	if err != nil {
		return err
	}
	set, err := data.Folder(filepath.Join(dir, "train"), data.FolderOptions{Transform: pipe, Seed: 1})
	if err != nil {
		return err
	}
	batch, workers, steps := cfg.Batch, cfg.Workers, cfg.Steps
	if set.Len() < batch {
		return &train.FieldError{Field: "Data", Value: cfg.Data, Err: fmt.Errorf("%d training images, fewer than one batch of %d", set.Len(), batch)}
	}
	res.Data, res.Workers = cfg.Data, workers
	if res.LoaderImagesPerSecond, err = train.LoaderRate(ctx, set, batch, workers, steps); err != nil {
		return err
	}
	loader, err := data.NewLoader(set, data.LoaderConfig{BatchSize: batch, Shuffle: true, Seed: 2, DropLast: true, Workers: workers})
	if err != nil {
		return err
	}
	var (
		it    *data.Iter
		epoch int
	)
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	next := func() (*data.Batch, error) {
		for {
			if it == nil {
				if it, err = loader.Epoch(ctx, epoch, 0); err != nil {
					return nil, err
				}
				epoch++
			}
			b, err := it.Next()
			if !errors.Is(err, io.EOF) {
				return b, err
			}
			it.Close()
			it = nil
		}
	}
	timing, err := train.StepTimes(spec.Model, batch, cfg.Threads, cfg.Precision, cfg.Warmup, steps, next, nil)
	if err != nil {
		return err
	}
	res.FedImagesPerSecond = float64(batch) / train.Median(timing.Steps).Seconds()
	return nil
}
