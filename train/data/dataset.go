package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Dataset is an indexable collection of labelled examples of one shape.
// Implementations must allow concurrent calls of Example: a Loader's workers
// call it from several goroutines at once.
type Dataset interface {
	// Len is the number of examples, indexed 0 to Len()−1.
	Len() int
	// Shape is the shape of every example: channels, height, width.
	Shape() (c, h, w int)
	// Classes is the number of classes; every label is in [0, Classes()).
	Classes() int
	// Example writes example i into dst, which must hold exactly c·h·w
	// values, in C×H×W order, and returns its label. The error reports a
	// bad index or dst, or a failure to produce the example (a file that
	// cannot be decoded, for data sets read from disk).
	Example(i int, dst []float32) (label int, err error)
}

// Images is a data set held in memory as uint8 values (a quarter of the
// size of float32) with uint8 labels, converted to float32 as examples are
// asked for: value b becomes b·scale.
type Images struct {
	pixels  []uint8
	labels  []uint8
	c, h, w int
	classes int
	// lut is b·scale for every byte b: one load a value instead of a
	// conversion and a multiplication.
	lut [256]float32
}

// NewImages makes a data set of len(labels) examples of shape c×h×w, whose
// pixels are stored example after example in C×H×W order, and which
// converts value b to b·scale (1/255 gives [0,1], 1 gives [0,255]). The
// slices are kept, not copied. Every label must be below classes (at most
// 256, since labels are bytes).
func NewImages(pixels, labels []uint8, c, h, w, classes int, scale float32) (*Images, error) {
	switch {
	case c < 1 || h < 1 || w < 1:
		return nil, fmt.Errorf("data: example shape %d×%d×%d: every dimension must be at least 1", c, h, w)
	case classes < 1 || classes > 256:
		return nil, fmt.Errorf("data: %d classes: expected 1 to 256 (labels are bytes)", classes)
	case len(labels) == 0:
		return nil, errors.New("data: no examples")
	case len(pixels) != len(labels)*c*h*w:
		return nil, fmt.Errorf("data: %d labels need %d×%d×%d×%d = %d pixel values, found %d",
			len(labels), len(labels), c, h, w, len(labels)*c*h*w, len(pixels))
	case !(scale > 0) || math.IsInf(float64(scale), 0):
		return nil, fmt.Errorf("data: scale %g: expected a finite positive number", scale)
	}
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("data: label %d of example %d is not below the class count %d", l, i, classes)
		}
	}
	d := &Images{pixels: pixels, labels: labels, c: c, h: h, w: w, classes: classes}
	for b := range d.lut {
		d.lut[b] = float32(b) * scale
	}
	return d, nil
}

// Len returns the number of examples.
func (d *Images) Len() int { return len(d.labels) }

// Shape returns the shape of one example.
func (d *Images) Shape() (c, h, w int) { return d.c, d.h, d.w }

// Classes returns the number of classes.
func (d *Images) Classes() int { return d.classes }

// Example writes example i, scaled, into dst and returns its label.
func (d *Images) Example(i int, dst []float32) (int, error) {
	size := d.c * d.h * d.w
	if err := checkExample(d, i, dst, size); err != nil {
		return 0, err
	}
	for j, b := range d.pixels[i*size : (i+1)*size] {
		dst[j] = d.lut[b]
	}
	return int(d.labels[i]), nil
}

// checkExample checks the arguments of an Example call on d, whose examples
// hold size values.
func checkExample(d Dataset, i int, dst []float32, size int) error {
	if i < 0 || i >= d.Len() {
		return fmt.Errorf("data: example %d out of range [0, %d)", i, d.Len())
	}
	if len(dst) != size {
		c, h, w := d.Shape()
		return fmt.Errorf("data: example buffer holds %d values, expected %d×%d×%d = %d", len(dst), c, h, w, size)
	}
	return nil
}

// RepeatChannels presents a one-channel data set as c identical channels:
// MNIST for a model whose input has three.
func RepeatChannels(d Dataset, c int) (Dataset, error) {
	if err := checkRepeat(d.Shape, c); err != nil {
		return nil, err
	}
	return &repeated{Dataset: d, c: c}, nil
}

// checkRepeat checks that a data set of the given shape can be repeated to
// c channels.
func checkRepeat(shape func() (c, h, w int), c int) error {
	if dc, _, _ := shape(); dc != 1 {
		return fmt.Errorf("data: repeating channels needs a one-channel data set, found %d channels", dc)
	}
	if c < 1 {
		return fmt.Errorf("data: repeating to %d channels: expected at least 1", c)
	}
	return nil
}

// repeatPlane copies the first plane of dst, an example of len(dst)/plane
// channels, into the other channels.
func repeatPlane(dst []float32, plane int) {
	for k := plane; k < len(dst); k += plane {
		copy(dst[k:k+plane], dst[:plane])
	}
}

// repeated is a one-channel Dataset presented with c channels.
type repeated struct {
	Dataset
	c int
}

func (r *repeated) Shape() (c, h, w int) {
	_, h, w = r.Dataset.Shape()
	return r.c, h, w
}

func (r *repeated) Example(i int, dst []float32) (int, error) {
	_, h, w := r.Dataset.Shape()
	plane := h * w
	if err := checkExample(r, i, dst, r.c*plane); err != nil {
		return 0, err
	}
	label, err := r.Dataset.Example(i, dst[:plane])
	if err != nil {
		return 0, err
	}
	repeatPlane(dst, plane)
	return label, nil
}

// MNIST's per-pixel mean and standard deviation over its 60,000 training
// images, on values in [0,1] (the units of the data sets [MNIST] returns):
// the figures in common use, e.g. PyTorch's MNIST example. On [0,255] they
// would be 33.32 and 78.57.
const (
	MNISTMean = 0.1307
	MNISTStd  = 0.3081
)

// Normalize presents d with every value standardised per channel:
// (x − mean[c]) / std[c]. mean and std hold one number a channel, in the
// units of d's values (see the package documentation).
func Normalize(d Dataset, mean, std []float64) (Dataset, error) {
	c, _, _ := d.Shape()
	s, err := newStandardizer(c, mean, std)
	if err != nil {
		return nil, err
	}
	return &normalized{Dataset: d, standardizer: s}, nil
}

// normalized is a Dataset standardised per channel.
type normalized struct {
	Dataset
	standardizer
}

func (n *normalized) Example(i int, dst []float32) (int, error) {
	label, err := n.Dataset.Example(i, dst)
	if err != nil {
		return 0, err
	}
	n.apply(dst)
	return label, nil
}

// standardizer standardises the channels of an example: the arithmetic
// of Normalize and NormalizeDense.
type standardizer struct {
	mean, inv []float32 // per channel: the mean and 1/std
}

// newStandardizer checks one finite mean and one finite positive std for
// each of c channels.
func newStandardizer(c int, mean, std []float64) (standardizer, error) {
	if len(mean) != c || len(std) != c {
		return standardizer{}, fmt.Errorf("data: normalising %d channels needs %d means and %d stds, found %d and %d",
			c, c, c, len(mean), len(std))
	}
	s := standardizer{mean: make([]float32, c), inv: make([]float32, c)}
	for k := range c {
		if !(std[k] > 0) || math.IsInf(std[k], 0) || math.IsNaN(mean[k]) || math.IsInf(mean[k], 0) {
			return standardizer{}, fmt.Errorf("data: normalising channel %d with mean %g and std %g: expected a finite mean and a finite positive std",
				k, mean[k], std[k])
		}
		s.mean[k] = float32(mean[k])
		s.inv[k] = float32(1 / std[k])
	}
	return s, nil
}

// apply standardises dst, one example in C×H×W order, in place.
func (s standardizer) apply(dst []float32) {
	plane := len(dst) / len(s.mean)
	for k, m := range s.mean {
		inv := s.inv[k]
		for j := range dst[k*plane : (k+1)*plane] {
			dst[k*plane+j] = (dst[k*plane+j] - m) * inv
		}
	}
}

// MeanStd returns the mean and the (population) standard deviation of each
// channel of d over every value of every example, in d's units: the numbers
// Normalize takes. Per-example statistics are merged with Chan et al.'s
// pairwise formula, which stays accurate where a running sum of squares
// would cancel.
func MeanStd(d Dataset) (mean, std []float64, err error) {
	c, h, w := d.Shape()
	plane := h * w
	buf := make([]float32, c*plane)
	mean = make([]float64, c)
	m2 := make([]float64, c) // sums of squared deviations from mean
	for i := range d.Len() {
		if _, err := d.Example(i, buf); err != nil {
			return nil, nil, err
		}
		for k := range c {
			var sum float64
			for _, v := range buf[k*plane : (k+1)*plane] {
				sum += float64(v)
			}
			em := sum / float64(plane)
			var em2 float64
			for _, v := range buf[k*plane : (k+1)*plane] {
				dv := float64(v) - em
				em2 += dv * dv
			}
			// Merge i examples so far with this one, each of plane values.
			delta := em - mean[k]
			mean[k] += delta / float64(i+1)
			m2[k] += em2 + delta*delta*float64(plane)*float64(i)/float64(i+1)
		}
	}
	std = make([]float64, c)
	for k := range c {
		std[k] = math.Sqrt(m2[k] / (float64(d.Len()) * float64(plane)))
	}
	return mean, std, nil
}

// RandomSubset presents n examples of d drawn without replacement by a PCG
// generator seeded with seed, in index order: a smaller training set that is
// the same for the same seed. n of Len() or more gives d itself. A data set
// that augments per epoch keeps doing so.
func RandomSubset(d Dataset, n int, seed uint64) (Dataset, error) {
	if n < 1 {
		return nil, fmt.Errorf("data: a subset of %d examples: expected at least 1", n)
	}
	if n >= d.Len() {
		return d, nil
	}
	perm := rand.New(rand.NewPCG(seed, 0x737562)).Perm(d.Len())[:n]
	slices.Sort(perm)
	s := &subset{Dataset: d, indices: perm}
	if e, ok := d.(EpochDataset); ok {
		return &epochSubset{subset: s, epoch: e}, nil
	}
	return s, nil
}

// subset is a Dataset restricted to indices.
type subset struct {
	Dataset
	indices []int
}

func (s *subset) Len() int { return len(s.indices) }

func (s *subset) Example(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(s.indices) {
		return 0, fmt.Errorf("data: example %d of a subset of %d", i, len(s.indices))
	}
	return s.Dataset.Example(s.indices[i], dst)
}

// epochSubset is a subset of an EpochDataset.
type epochSubset struct {
	*subset
	epoch EpochDataset
}

func (s *epochSubset) EpochExample(epoch, i int, dst []float32) (int, error) {
	if i < 0 || i >= len(s.indices) {
		return 0, fmt.Errorf("data: example %d of a subset of %d", i, len(s.indices))
	}
	return s.epoch.EpochExample(epoch, s.indices[i], dst)
}
