package train

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// DataSets lists the values Config.Data.Set takes for classification (one
// label an image), SegmentationDataSets those labelled per pixel, and
// DetectionDataSets those labelled with boxes, for messages.
const (
	DataSets             = "mnist, fashion-mnist, cifar10[:DIR] or folder:DIR"
	SegmentationDataSets = "mnist-seg"
	DetectionDataSets    = "mnist-det"
)

// CanvasSet reports whether set is one of the digit-canvas sets, which
// Config.Data.Canvas chooses: mnist-seg and mnist-det.
func CanvasSet(set string) bool { return set == "mnist-seg" || set == "mnist-det" }

// ImageShape is the channels, height and width of set's images, which a
// model built for set takes: 1×28×28 for MNIST and Fashion-MNIST, 3×32×32
// for CIFAR-10, and ImageNet's 3×224×224 for folders, whose images are
// cropped to the model's size whatever their own.
func ImageShape(set string) (c, h, w int) {
	switch name, _, _ := strings.Cut(set, ":"); name {
	case "mnist", "fashion-mnist":
		return 1, 28, 28
	case "cifar10":
		return 3, 32, 32
	}
	return 3, 224, 224
}

// Splits is a data set opened for a model: its training and test splits,
// fitted to the model's input and normalised. A classification set fills
// Train and Test, a set labelled per pixel DenseTrain and DenseTest, and a
// detection set (mnist-det) DenseTrain and DenseTest for its images and
// TrainObjects and TestObjects for its boxes, by the same indices.
type Splits struct {
	Train, Test               data.Dataset
	DenseTrain, DenseTest     data.DenseDataset
	TrainObjects, TestObjects data.ObjectSet
	// Mean and Std are the normalisation applied, in [0,1] units.
	Mean, Std []float64
	// ClassNames are the image folders' classes (nil for the built-in sets).
	ClassNames []string
	folders    []*data.FolderSet
}

// Dense reports whether the set is labelled per pixel.
func (s *Splits) Dense() bool { return s.DenseTest != nil && s.TestObjects == nil }

// Detection reports whether the set is labelled with boxes.
func (s *Splits) Detection() bool { return s.TestObjects != nil }

// Classes returns the number of classes of the test split: of its objects
// for a detection set.
func (s *Splits) Classes() int {
	switch {
	case s.Detection():
		return s.TestObjects.ObjectClasses()
	case s.Dense():
		return s.DenseTest.Classes()
	}
	return s.Test.Classes()
}

// OpenData opens the data set cfg names (Data, DataDir, Mean, Std,
// Augment, ValCropRatio, SkipBad, Seed, Canvas; Model and Log for
// messages) for a model whose input is [N C H W]: what Train trains on,
// and what an evaluation of a trained model reads with the same validation
// transform.
func OpenData(cfg Config, input []int64) (*Splits, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	name, dir, _ := strings.Cut(cfg.Data.Set, ":")
	if cfg.Data.Dir != "" {
		dir = cfg.Data.Dir
	}
	if len(input) != 4 {
		return nil, fmt.Errorf("%s: model input %v: expected [N C H W]", cfg.Model, input)
	}
	switch {
	case CanvasSet(name):
		return openCanvases(cfg, dir, input)
	case cfg.Data.Canvas != data.CanvasOptions{}:
		return nil, refuse("Data.Canvas", nil, fmt.Sprintf("none with Data.Set %q: the canvas options (seed, size, number of canvases) apply to mnist-seg and mnist-det only", cfg.Data.Set), "Data.Set")
	case name == "folder":
		return openFolder(cfg, dir, input)
	}
	return openInMemory(cfg, name, dir, input)
}

// openData opens the data set and makes the training loader.
func (r *run) openData() error {
	splits, err := OpenData(r.cfg, r.input)
	if err != nil {
		return err
	}
	r.model.SetMetadata(MetaMean, formatFloats(splits.Mean))
	r.model.SetMetadata(MetaStd, formatFloats(splits.Std))
	if splits.ClassNames != nil {
		r.model.SetMetadata(MetaClasses, strings.Join(splits.ClassNames, ","))
	}
	loader := data.LoaderConfig{BatchSize: r.cfg.Recipe.Batch, Shuffle: true, Seed: r.cfg.Seed, DropLast: true, Workers: Workers(r.cfg)}
	if splits.DenseTest != nil {
		if r.cfg.Data.TrainLimit > 0 {
			return refuse("Data.TrainLimit", r.cfg.Data.TrainLimit, fmt.Sprintf("0 with Data.Set %q, which is made to size: set Data.Canvas.Train instead", r.cfg.Data.Set), "Data.Set", "Data.Canvas.Train")
		}
		if splits.Detection() {
			r.det = &detectionData{train: splits.TrainObjects, test: splits.TestObjects, testImages: splits.DenseTest, classes: splits.Classes()}
		} else {
			r.denseTest = splits.DenseTest
		}
		r.train, err = data.NewDenseLoader(splits.DenseTrain, loader)
		return err
	}
	train := splits.Train
	if r.cfg.Data.TrainLimit > 0 {
		if train, err = data.RandomSubset(train, r.cfg.Data.TrainLimit, r.cfg.Seed); err != nil {
			return err
		}
	}
	r.test, r.folders = splits.Test, splits.folders
	r.train, err = data.NewLoader(train, loader)
	return err
}

// Metadata keys a trained model carries, so that whoever runs it knows
// how to feed it: the per-channel mean and std of its input in [0,1]
// units (comma-separated), and the class names where known.
// MetaTricks lists the paper's tricks the run used ([Tricks]); MetaTop1
// holds a classifier's last test top-1, MetaPixelAccuracy and MetaMeanIoU
// a per-pixel model's last test figures, MetaVOC07AP50 and MetaCOCOAP a
// detector's.
const (
	MetaMean          = "bot-onnx.mean"
	MetaStd           = "bot-onnx.std"
	MetaClasses       = "bot-onnx.classes"
	MetaTricks        = "bot-onnx.tricks"
	MetaTop1          = "bot-onnx.top1"
	MetaPixelAccuracy = "bot-onnx.pixel_accuracy"
	MetaMeanIoU       = "bot-onnx.mean_iou"
	MetaVOC07AP50     = "bot-onnx.voc07_ap50"
	MetaCOCOAP        = "bot-onnx.coco_ap"
)

// Tricks names the paper's tricks cfg uses, comma-separated ("none" for
// the plain baseline).
func Tricks(cfg Config) string {
	var t []string
	add := func(on bool, format string, args ...any) {
		if on {
			t = append(t, fmt.Sprintf(format, args...))
		}
	}
	add(cfg.Recipe.LinearScaling, "linear-scaling")
	add(cfg.Recipe.WarmupEpochs > 0, "warmup %d", cfg.Recipe.WarmupEpochs)
	add(cfg.Recipe.ZeroGamma, "zero-gamma")
	add(cfg.Recipe.NoWDBias, "no-wd-bias")
	add(cfg.Recipe.Optimizer == "lars", "lars %g", cfg.Recipe.LARSTrust)
	add(cfg.Recipe.Cosine, "cosine")
	add(cfg.Recipe.LabelSmoothing > 0, "label-smoothing %g (%s)", cfg.Recipe.LabelSmoothing, cfg.Recipe.Smoothing)
	add(cfg.Recipe.Mixup > 0, "mixup %g", cfg.Recipe.Mixup)
	add(cfg.Recipe.Teacher != "", "distillation T=%g", cfg.Recipe.Distill.T)
	if len(t) == 0 {
		return "none"
	}
	return strings.Join(t, ", ")
}

func formatFloats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'g', 6, 64)
	}
	return strings.Join(parts, ",")
}

// Workers returns the number of goroutines that fill batches for cfg:
// decoding and augmenting images needs every core (docs/design-notes.md), an
// in-memory set one.
func Workers(cfg Config) int {
	switch {
	case cfg.Engine.Workers > 0:
		return cfg.Engine.Workers
	case strings.HasPrefix(cfg.Data.Set, "folder"):
		return runtime.NumCPU()
	}
	return 1
}

// openInMemory opens one of the data sets held in memory, normalised with
// its own mean and std unless Config gives others, with its channels
// repeated when a grey set feeds an RGB model.
func openInMemory(cfg Config, name, dir string, in []int64) (*Splits, error) {
	var (
		train, test data.Dataset
		err         error
	)
	if cfg.Data.Augment != nil {
		return nil, refuse("Data.Augment", nil, fmt.Sprintf("none with Data.Set %q: augmentation applies to image folders (folder:DIR) only", cfg.Data.Set), "Data.Set")
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
		return nil, refuse("Data.Set", cfg.Data.Set, fmt.Sprintf("%s, or %s (labelled per pixel)", DataSets, SegmentationDataSets))
	}
	if err != nil {
		return nil, err
	}
	if cfg.Data.Mean != nil {
		mean, std = cfg.Data.Mean, cfg.Data.Std
	}
	c, h, w := train.Shape()
	if in[2] != int64(h) || in[3] != int64(w) || (in[1] != int64(c) && c != 1) {
		return nil, fmt.Errorf("%s: model input [%d %d %d] does not fit %s's %d×%d×%d images (a model built for input %dx%dx%d takes them)",
			cfg.Model, in[1], in[2], in[3], name, c, h, w, c, h, w)
	}
	for _, d := range []*data.Dataset{&train, &test} {
		if *d, err = data.Normalize(*d, mean, std); err != nil {
			return nil, &FieldError{Field: "Data.Mean", Value: mean, Err: err}
		}
		if in[1] != int64(c) {
			if *d, err = data.RepeatChannels(*d, int(in[1])); err != nil {
				return nil, err
			}
		}
	}
	return &Splits{Train: train, Test: test, Mean: mean, Std: std}, nil
}

// openCanvases opens a digit-canvas set (mnist-seg; mnist-det with the
// canvases' objects) made from the MNIST
// files in dir with cfg.Data.Canvas, normalised with MNIST's mean and std (as
// a backbone trained on MNIST saw its input) unless Config gives others,
// with the channel repeated for an RGB model. The model's input must be
// the canvases' size.
func openCanvases(cfg Config, dir string, in []int64) (*Splits, error) {
	if cfg.Data.Augment != nil {
		return nil, refuse("Data.Augment", nil, fmt.Sprintf("none with Data.Set %q: augmentation applies to image folders (folder:DIR) only", cfg.Data.Set), "Data.Set")
	}
	var err error
	if dir == "" {
		if dir, err = data.DefaultDir(); err != nil {
			return nil, err
		}
	}
	trainSet, testSet, err := data.MNISTCanvases(dir, cfg.Data.Canvas)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Data.Set, err)
	}
	c, h, w := trainSet.Shape()
	if in[2] != int64(h) || in[3] != int64(w) || (in[1] != int64(c) && c != 1) {
		return nil, fmt.Errorf("%s: model input [%d %d %d] does not fit the %d×%d×%d canvases of %s (the canvas size is an option; a backbone exported at input size %dx%d takes them)",
			cfg.Model, in[1], in[2], in[3], c, h, w, cfg.Data.Set, h, w)
	}
	mean, std := []float64{data.MNISTMean}, []float64{data.MNISTStd}
	if cfg.Data.Mean != nil {
		mean, std = cfg.Data.Mean, cfg.Data.Std
	}
	s := &Splits{DenseTrain: trainSet, DenseTest: testSet, Mean: mean, Std: std}
	if cfg.Data.Set == "mnist-det" {
		s.TrainObjects, s.TestObjects = trainSet, testSet
	}
	for _, d := range []*data.DenseDataset{&s.DenseTrain, &s.DenseTest} {
		if *d, err = data.NormalizeDense(*d, mean, std); err != nil {
			return nil, &FieldError{Field: "Data.Mean", Value: mean, Err: err}
		}
		if in[1] != int64(c) {
			if *d, err = data.RepeatChannelsDense(*d, int(in[1])); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// openFolder opens DIR/train and DIR/val as image folders: training
// images through the augmentation pipeline, validation images resized and
// centre-cropped, both at the model's input size and normalised alike.
func openFolder(cfg Config, dir string, in []int64) (*Splits, error) {
	if dir == "" {
		return nil, refuse("Data.Set", cfg.Data.Set, "folder:DIR, or Data.Dir set, naming a folder of DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg", "Data.Dir")
	}
	c, h, w := int(in[1]), int(in[2]), int(in[3])
	if h != w || (c != 1 && c != 3) {
		return nil, fmt.Errorf("%s: model input [%d %d %d]: image folders feed square 1- or 3-channel inputs", cfg.Model, c, h, w)
	}
	aug := augment.DefaultTrainOptions(h)
	if cfg.Data.Augment != nil {
		aug = *cfg.Data.Augment
	}
	aug.Size, aug.Channels, aug.Normalize = h, c, true
	aug.Mean, aug.Std = folderNorm(cfg.Data.Mean, augment.ImageNetMean[:], c), folderNorm(cfg.Data.Std, augment.ImageNetStd[:], c)
	if c == 1 && aug.Lighting {
		// PCA lighting noise is defined on RGB; a grey model has no use for it.
		fmt.Fprintf(cfg.Log, "lighting noise needs RGB: off for this 1-channel model\n")
		aug.Lighting = false
	}
	trainPipe, err := augment.NewTrain(aug)
	if err != nil {
		return nil, err
	}
	ratio := cfg.Data.ValCropRatio
	if ratio == 0 {
		ratio = augment.DefaultCropRatio
	}
	valPipe, err := augment.NewVal(augment.ValOptions{Size: h, Channels: c, CropRatio: ratio, Normalize: true, Mean: aug.Mean, Std: aug.Std})
	if err != nil {
		return nil, err
	}
	warn := func(err error) { fmt.Fprintf(cfg.Log, "warning: %v; skipped\n", err) }
	trainSet, valSet, err := data.FolderSplits(dir,
		data.FolderOptions{Transform: trainPipe, Seed: cfg.Seed, SkipBad: cfg.Data.SkipBad, Warn: warn},
		data.FolderOptions{Transform: valPipe, SkipBad: cfg.Data.SkipBad, Warn: warn})
	if err != nil {
		return nil, err
	}
	return &Splits{Train: trainSet, Test: valSet, Mean: scaled(aug.Mean, 1.0/255), Std: scaled(aug.Std, 1.0/255),
		ClassNames: trainSet.ClassNames(), folders: []*data.FolderSet{trainSet, valSet}}, nil
}

// folderNorm turns a mean or std given in [0,1] units (nil: def, which is
// in [0,255] units) into the [0,255] units of the augmentation pipeline,
// for c channels; a grey model takes the mean of def's three values.
func folderNorm(v, def []float64, c int) []float64 {
	if v != nil {
		return scaled(v, 255)
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

// scaled returns v × k.
func scaled(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = k * x
	}
	return out
}
