package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Pipeline is a sequence of steps that makes an example of fixed shape
// from an image: what a data set applies to each decoded photograph. It
// holds no state that Apply changes, so one Pipeline serves every loader
// goroutine at once.
type Pipeline struct {
	steps   []Step
	c, size int
}

// Shape returns the shape of every output: channels, height, width.
func (p *Pipeline) Shape() (c, h, w int) { return p.c, p.size, p.size }

// Apply runs the steps on img (which it may change) with randomness from
// rng and writes the result, C×H×W, to dst, which must hold Shape's
// c·h·w values. rng may be nil for a pipeline without random steps (a
// validation pipeline).
func (p *Pipeline) Apply(img *Image, rng *rand.Rand, dst []float32) error {
	if img.C != p.c {
		return fmt.Errorf("augment: a pipeline for %d-channel images given a %d-channel one", p.c, img.C)
	}
	if len(dst) != p.c*p.size*p.size {
		return fmt.Errorf("augment: output buffer holds %d values, expected %d×%d×%d = %d",
			len(dst), p.c, p.size, p.size, p.c*p.size*p.size)
	}
	for _, s := range p.steps {
		var err error
		if img, err = s.Apply(img, rng); err != nil {
			return err
		}
	}
	if img.C != p.c || img.H != p.size || img.W != p.size {
		return fmt.Errorf("augment: the pipeline's steps made a %d×%d×%d image, expected %d×%d×%d",
			img.C, img.H, img.W, p.c, p.size, p.size)
	}
	copy(dst, img.Pix)
	return nil
}

// TrainOptions configure the training pipeline [NewTrain] builds. Each
// part has a switch, so that a run can leave one out (an ablation, or a
// small data set that needs less); [DefaultTrainOptions] is the paper's
// recipe with every part on.
type TrainOptions struct {
	// Size is the output's height and width (224 in the paper).
	Size int
	// Channels is 3 (RGB) or 1 (grey, which needs Lighting off and a
	// one-channel Mean and Std).
	Channels int

	// Crop takes a [RandomResizedCrop] with area fractions
	// [MinArea, MaxArea] and aspect ratios [MinRatio, MaxRatio]; without
	// it the training images are cut as validation images are, with
	// CropRatio.
	Crop               bool
	MinArea, MaxArea   float64
	MinRatio, MaxRatio float64
	CropRatio          float64

	// Flip mirrors half of the images ([HorizontalFlip] with p = 0.5).
	Flip bool

	// Jitter scales brightness, contrast and saturation by factors from
	// U[1−s, 1+s] for strengths Brightness, Contrast and Saturation
	// ([ColorJitter]).
	Jitter                           bool
	Brightness, Contrast, Saturation float64

	// Lighting adds PCA colour noise with coefficients from
	// N(0, LightingStd) ([Lighting]).
	Lighting    bool
	LightingStd float64

	// Normalize standardises each channel with Mean and Std, in [0, 255]
	// units ([Normalize]).
	Normalize bool
	Mean, Std []float64
}

// DefaultTrainOptions returns the paper's training augmentation for
// size×size RGB outputs: random crops of 8%–100% of the area and aspect
// ratio 3/4–4/3, flips with p = 0.5, jitter of strength 0.4, lighting noise
// of std 0.1, ImageNet's mean and std.
func DefaultTrainOptions(size int) TrainOptions {
	return TrainOptions{
		Size: size, Channels: 3,
		Crop: true, MinArea: 0.08, MaxArea: 1, MinRatio: 3.0 / 4, MaxRatio: 4.0 / 3, CropRatio: DefaultCropRatio,
		Flip:   true,
		Jitter: true, Brightness: 0.4, Contrast: 0.4, Saturation: 0.4,
		Lighting: true, LightingStd: 0.1,
		Normalize: true, Mean: slices.Clone(ImageNetMean[:]), Std: slices.Clone(ImageNetStd[:]),
	}
}

// DefaultCropRatio is the share of the resized shorter side that the
// validation centre crop keeps: 224 of 256, the paper's 0.875.
const DefaultCropRatio = 0.875

// NewTrain builds the training pipeline, in the paper's order: crop, flip,
// jitter, lighting, normalise. Every parameter of a part that is on is
// checked here, so a bad option fails before the first image.
func NewTrain(o TrainOptions) (*Pipeline, error) {
	p, err := newPipeline(o.Size, o.Channels)
	if err != nil {
		return nil, err
	}
	if o.Crop {
		c := RandomResizedCrop{Size: o.Size, MinArea: o.MinArea, MaxArea: o.MaxArea, MinRatio: o.MinRatio, MaxRatio: o.MaxRatio}
		if err := c.validate(); err != nil {
			return nil, err
		}
		p.steps = append(p.steps, c)
	} else if err := p.addCentre(o.CropRatio); err != nil {
		return nil, err
	}
	if o.Flip {
		p.steps = append(p.steps, HorizontalFlip{P: 0.5})
	}
	if o.Jitter {
		j := ColorJitter{Brightness: o.Brightness, Contrast: o.Contrast, Saturation: o.Saturation}
		if err := j.validate(); err != nil {
			return nil, err
		}
		p.steps = append(p.steps, j)
	}
	if o.Lighting {
		l := Lighting{Std: o.LightingStd}
		if err := l.validate(); err != nil {
			return nil, err
		}
		if o.Channels != 3 {
			return nil, fmt.Errorf("augment: lighting noise needs RGB, the pipeline has %d channel(s)", o.Channels)
		}
		p.steps = append(p.steps, l)
	}
	if o.Normalize {
		if err := p.addNormalize(o.Mean, o.Std); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ValOptions configure the validation pipeline [NewVal] builds.
type ValOptions struct {
	// Size is the output's height and width; Channels 3 (RGB) or 1 (grey).
	Size, Channels int
	// CropRatio is the share of the resized shorter side the centre crop
	// keeps: the shorter side is resized to round(Size/CropRatio).
	CropRatio float64
	// Normalize standardises each channel with Mean and Std, in [0, 255]
	// units.
	Normalize bool
	Mean, Std []float64
}

// DefaultValOptions returns the paper's validation transform for size×size
// RGB outputs: shorter side to size/0.875 (256 for 224), centre crop,
// ImageNet's mean and std.
func DefaultValOptions(size int) ValOptions {
	return ValOptions{Size: size, Channels: 3, CropRatio: DefaultCropRatio,
		Normalize: true, Mean: slices.Clone(ImageNetMean[:]), Std: slices.Clone(ImageNetStd[:])}
}

// NewVal builds the validation pipeline: [ResizeShorter] to
// round(Size/CropRatio), [CenterCrop] to Size, then [Normalize] if asked.
// GluonCV rounds Size/CropRatio up and timm down; the three agree for 224
// (256 exactly).
func NewVal(o ValOptions) (*Pipeline, error) {
	p, err := newPipeline(o.Size, o.Channels)
	if err != nil {
		return nil, err
	}
	if err := p.addCentre(o.CropRatio); err != nil {
		return nil, err
	}
	if o.Normalize {
		if err := p.addNormalize(o.Mean, o.Std); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newPipeline checks the output shape and returns an empty pipeline of it.
func newPipeline(size, channels int) (*Pipeline, error) {
	if size < 1 {
		return nil, fmt.Errorf("augment: output size %d: expected at least 1", size)
	}
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("augment: %d channels: expected 1 (grey) or 3 (RGB)", channels)
	}
	return &Pipeline{c: channels, size: size}, nil
}

// addCentre appends the validation geometry: the shorter side resized to
// round(size/ratio), then the centre size×size.
func (p *Pipeline) addCentre(ratio float64) error {
	if !(ratio > 0 && ratio <= 1) {
		return fmt.Errorf("augment: centre crop ratio %g: expected 0 < ratio ≤ 1", ratio)
	}
	p.steps = append(p.steps,
		ResizeShorter{Size: int(math.Round(float64(p.size) / ratio))},
		CenterCrop{Size: p.size})
	return nil
}

// addNormalize appends a Normalize step after checking it against the
// pipeline's channels.
func (p *Pipeline) addNormalize(mean, std []float64) error {
	n := Normalize{Mean: mean, Std: std}
	if err := n.validate(); err != nil {
		return err
	}
	if len(mean) != p.c {
		return fmt.Errorf("augment: normalising %d channel(s) with %d means and stds", p.c, len(mean))
	}
	p.steps = append(p.steps, n)
	return nil
}
