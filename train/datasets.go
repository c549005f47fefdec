package train

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// DataSets lists the values Config.Data takes, for messages.
const DataSets = "mnist, fashion-mnist, cifar10[:DIR] or folder:DIR"

// openData opens the data set, fits it to the model's input and makes
// the training loader.
func (r *run) openData() error {
	name, dir, _ := strings.Cut(r.cfg.Data, ":")
	if r.cfg.DataDir != "" {
		dir = r.cfg.DataDir
	}
	in := r.eval0InputShape()
	var (
		train, test data.Dataset
		err         error
	)
	if name == "folder" {
		train, test, err = r.openFolder(dir, in)
	} else {
		train, test, err = r.openInMemory(name, dir, in)
	}
	if err != nil {
		return err
	}
	if r.cfg.TrainLimit > 0 {
		if train, err = data.RandomSubset(train, r.cfg.TrainLimit, r.cfg.Seed); err != nil {
			return err
		}
	}
	r.test = test
	r.train, err = data.NewLoader(train, data.LoaderConfig{BatchSize: r.cfg.Batch, Shuffle: true, Seed: r.cfg.Seed, DropLast: true, Workers: r.workers()})
	return err
}

// workers returns the number of goroutines that fill batches: decoding
// and augmenting images needs every core (DESIGN.md), an in-memory set one.
func (r *run) workers() int {
	switch {
	case r.cfg.Workers > 0:
		return r.cfg.Workers
	case strings.HasPrefix(r.cfg.Data, "folder"):
		return goruntime.NumCPU()
	}
	return 1
}

// openInMemory opens one of the data sets held in memory, normalised with
// its own mean and std unless Config gives others, with its channels
// repeated when a grey set feeds an RGB model.
func (r *run) openInMemory(name, dir string, in []int64) (train, test data.Dataset, err error) {
	if r.cfg.Augment != nil {
		return nil, nil, fmt.Errorf("--data %s: augmentation applies to image folders (folder:DIR) only", r.cfg.Data)
	}
	var mean, std []float64
	defaultDir := func(find func() (string, error)) {
		if dir == "" {
			dir, err = find()
		}
	}
	switch name {
	case "mnist":
		if defaultDir(data.DefaultDir); err == nil {
			train, test, err = data.MNIST(dir)
		}
		mean, std = []float64{data.MNISTMean}, []float64{data.MNISTStd}
	case "fashion-mnist":
		if defaultDir(data.FashionMNISTDefaultDir); err == nil {
			train, test, err = data.FashionMNIST(dir)
		}
		mean, std = []float64{data.FashionMNISTMean}, []float64{data.FashionMNISTStd}
	case "cifar10":
		if defaultDir(data.CIFAR10DefaultDir); err == nil {
			train, test, err = data.CIFAR10(dir)
		}
		mean, std = data.CIFAR10Mean[:], data.CIFAR10Std[:]
	default:
		return nil, nil, fmt.Errorf("--data %q: expected %s", r.cfg.Data, DataSets)
	}
	if err != nil {
		return nil, nil, err
	}
	if r.cfg.Mean != nil {
		mean, std = r.cfg.Mean, r.cfg.Std
	}
	c, h, w := train.Shape()
	if in[2] != int64(h) || in[3] != int64(w) || (in[1] != int64(c) && c != 1) {
		return nil, nil, fmt.Errorf("%s: model input [%d %d %d] does not fit %s's %d×%d×%d images (build the model with --input %dx%dx%d)",
			r.cfg.Model, in[1], in[2], in[3], name, c, h, w, c, h, w)
	}
	for _, d := range []*data.Dataset{&train, &test} {
		if *d, err = data.Normalize(*d, mean, std); err != nil {
			return nil, nil, fmt.Errorf("--mean/--std: %w", err)
		}
		if in[1] != int64(c) {
			if *d, err = data.RepeatChannels(*d, int(in[1])); err != nil {
				return nil, nil, err
			}
		}
	}
	return train, test, nil
}

// openFolder opens DIR/train and DIR/val as image folders: training
// images through the augmentation pipeline, validation images resized and
// centre-cropped, both at the model's input size and normalised alike.
func (r *run) openFolder(dir string, in []int64) (train, test data.Dataset, err error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("--data folder:DIR: the folder is missing (expected DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg)")
	}
	c, h, w := int(in[1]), int(in[2]), int(in[3])
	if h != w || (c != 1 && c != 3) {
		return nil, nil, fmt.Errorf("%s: model input [%d %d %d]: image folders feed square 1- or 3-channel inputs", r.cfg.Model, c, h, w)
	}
	aug := augment.DefaultTrainOptions(h)
	if r.cfg.Augment != nil {
		aug = *r.cfg.Augment
	}
	aug.Size, aug.Channels, aug.Normalize = h, c, true
	aug.Mean, aug.Std = folderNorm(r.cfg.Mean, augment.ImageNetMean[:], c), folderNorm(r.cfg.Std, augment.ImageNetStd[:], c)
	if c == 1 && aug.Lighting {
		// PCA lighting noise is defined on RGB; a grey model has no use for it.
		fmt.Fprintf(r.cfg.Log, "lighting noise needs RGB: off for this 1-channel model\n")
		aug.Lighting = false
	}
	trainPipe, err := augment.NewTrain(aug)
	if err != nil {
		return nil, nil, err
	}
	ratio := r.cfg.ValCropRatio
	if ratio == 0 {
		ratio = augment.DefaultCropRatio
	}
	valPipe, err := augment.NewVal(augment.ValOptions{Size: h, Channels: c, CropRatio: ratio, Normalize: true, Mean: aug.Mean, Std: aug.Std})
	if err != nil {
		return nil, nil, err
	}
	warn := func(err error) { fmt.Fprintf(r.cfg.Log, "warning: %v; skipped\n", err) }
	trainSet, valSet, err := data.FolderSplits(dir,
		data.FolderOptions{Transform: trainPipe, Seed: r.cfg.Seed, SkipBad: r.cfg.SkipBad, Warn: warn},
		data.FolderOptions{Transform: valPipe, SkipBad: r.cfg.SkipBad, Warn: warn})
	if err != nil {
		return nil, nil, err
	}
	r.folders = []*data.FolderSet{trainSet, valSet}
	r.model.SetMetadata("bot-onnx.classes", strings.Join(trainSet.ClassNames(), ","))
	return trainSet, valSet, nil
}

// folderNorm turns a mean or std given in [0,1] units (nil: def, which is
// in [0,255] units) into the [0,255] units of the augmentation pipeline,
// for c channels; a grey model takes the mean of def's three values.
func folderNorm(v, def []float64, c int) []float64 {
	if v != nil {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = 255 * x
		}
		return out
	}
	if c == 1 {
		sum := 0.0
		for _, x := range def {
			sum += x
		}
		return []float64{sum / float64(len(def))}
	}
	return slices.Clone(def)
}

// skipped returns the number of image files skipped so far as bad.
func (r *run) skipped() int {
	n := 0
	for _, f := range r.folders {
		n += f.Skipped()
	}
	return n
}
