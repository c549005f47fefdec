package data

import "fmt"

// DenseDataset is an indexable collection of examples labelled per pixel,
// as semantic segmentation needs: each example is an image of one shape
// (C×H×W) and a label map (H×W) giving every pixel a class. Like Dataset,
// it must allow concurrent calls of Example.
type DenseDataset interface {
	// Len is the number of examples, indexed 0 to Len()−1.
	Len() int
	// Shape is the shape of every image: channels, height, width; label
	// maps are height × width.
	Shape() (c, h, w int)
	// Classes is the number of classes; every label is in [0, Classes()).
	Classes() int
	// Example writes the image of example i into img (c·h·w values, C×H×W
	// order) and its label map into labels (h·w values, row by row). The
	// error reports a bad index or buffer, or a failure to produce the
	// example.
	Example(i int, img []float32, labels []int32) error
}

// checkDense checks the arguments of an Example call on d.
func checkDense(d DenseDataset, i int, img []float32, labels []int32) error {
	c, h, w := d.Shape()
	switch {
	case i < 0 || i >= d.Len():
		return fmt.Errorf("data: example %d out of range [0, %d)", i, d.Len())
	case len(img) != c*h*w:
		return fmt.Errorf("data: image buffer holds %d values, expected %d×%d×%d = %d", len(img), c, h, w, c*h*w)
	case len(labels) != h*w:
		return fmt.Errorf("data: label map buffer holds %d values, expected %d×%d = %d", len(labels), h, w, h*w)
	}
	return nil
}

// NormalizeDense is Normalize for a DenseDataset: the images are
// standardised per channel, the label maps pass through.
func NormalizeDense(d DenseDataset, mean, std []float64) (DenseDataset, error) {
	c, _, _ := d.Shape()
	s, err := newStandardizer(c, mean, std)
	if err != nil {
		return nil, err
	}
	return &normalizedDense{DenseDataset: d, standardizer: s}, nil
}

// normalizedDense is a DenseDataset whose images are standardised.
type normalizedDense struct {
	DenseDataset
	standardizer
}

func (n *normalizedDense) Example(i int, img []float32, labels []int32) error {
	if err := n.DenseDataset.Example(i, img, labels); err != nil {
		return err
	}
	n.apply(img)
	return nil
}

// RepeatChannelsDense is RepeatChannels for a DenseDataset: a one-channel
// image presented as c identical channels, the label map unchanged.
func RepeatChannelsDense(d DenseDataset, c int) (DenseDataset, error) {
	if err := checkRepeat(d.Shape, c); err != nil {
		return nil, err
	}
	return &repeatedDense{DenseDataset: d, c: c}, nil
}

// repeatedDense is a one-channel DenseDataset presented with c channels.
type repeatedDense struct {
	DenseDataset
	c int
}

func (r *repeatedDense) Shape() (c, h, w int) {
	_, h, w = r.DenseDataset.Shape()
	return r.c, h, w
}

func (r *repeatedDense) Example(i int, img []float32, labels []int32) error {
	if err := checkDense(r, i, img, labels); err != nil {
		return err
	}
	plane := len(labels)
	if err := r.DenseDataset.Example(i, img[:plane], labels); err != nil {
		return err
	}
	repeatPlane(img, plane)
	return nil
}
