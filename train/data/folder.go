package data

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/bot-onnx/bot-onnx/train/augment"
)

// ImageTransform makes an example from a decoded image: the augmentation
// of a training set or the resize and crop of a validation set
// (*augment.Pipeline implements it). Apply may change img, must take its
// randomness only from rng, and must be safe for concurrent use.
type ImageTransform interface {
	// Shape is the shape of every output; its channel count (1 or 3) is
	// also the number of channels images are decoded to.
	Shape() (c, h, w int)
	// Apply writes the example made from img into dst (c·h·w values).
	Apply(img *augment.Image, rng *rand.Rand, dst []float32) error
}

// EpochDataset is a Dataset whose examples change with the epoch, as
// randomly augmented ones do: a Loader filling a batch of epoch e should
// call EpochExample(e, i, dst) instead of Example(i, dst), so that each
// epoch draws new augmentations that depend on nothing but (seed, e, i).
type EpochDataset interface {
	Dataset
	EpochExample(epoch, i int, dst []float32) (label int, err error)
}

var _ EpochDataset = (*FolderSet)(nil)

// FolderOptions configure an image-folder data set.
type FolderOptions struct {
	// Transform turns each decoded image into an example (required).
	Transform ImageTransform
	// Seed, with the epoch and the example's index, seeds the random
	// generator each example's transform draws from ([augment.Rand]).
	Seed uint64
	// SkipBad replaces an image file that cannot be read or decoded (not an
	// image, a truncated file, an unsupported format) with the next good one in
	// index order, reports it once through Warn and counts it in
	// [FolderSet.Skipped]; without it Example returns an error naming the
	// file.
	SkipBad bool
	// Warn receives each skipped file's error, once; it may be called from
	// several goroutines at once. Nil logs with the standard logger.
	Warn func(error)
}

// folderExts are the file extensions (compared in lower case) that Folder
// takes for images; other files are ignored.
var folderExts = []string{".jpg", ".jpeg", ".png"}

// maxFolderPixels bounds the size of an image Folder decodes (64 Mpixel,
// 768 MiB as float32 RGB), so that a huge or forged header cannot exhaust
// memory; bigger images count as bad.
const maxFolderPixels = 1 << 26

// FolderSet is an image-folder data set, torchvision's ImageFolder layout:
// dir/<class>/**/*.{jpg,jpeg,png}. Images are read and decoded when an
// example is asked for, so memory holds the file names, not the pixels.
type FolderSet struct {
	dir     string
	classes []string
	files   []string // relative to dir, in index order
	labels  []int32
	counts  []int // images a class

	opts    FolderOptions
	c, h, w int

	bad     []atomic.Bool // files found not to decode, when skipping
	skipped atomic.Int64
}

// Folder lists the image-folder data set in dir: each subfolder is a
// class, labelled by its position among the subfolders' sorted names
// (folders whose names start with "." are ignored); each class's images are
// the files under its folder, at any depth, whose extension is .jpg, .jpeg
// or .png in any case, in lexical path order. A class folder with no image
// is an error naming it. Files are not opened here: a file that is not an
// image is found when its example is asked for (see
// [FolderOptions.SkipBad]).
func Folder(dir string, opts FolderOptions) (*FolderSet, error) {
	if opts.Transform == nil {
		return nil, fmt.Errorf("data: image folder %s: no transform given", dir)
	}
	c, h, w := opts.Transform.Shape()
	if (c != 1 && c != 3) || h < 1 || w < 1 {
		return nil, fmt.Errorf("data: image folder %s: transform output %d×%d×%d: expected 1 or 3 channels and a positive size", dir, c, h, w)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	d := &FolderSet{dir: dir, opts: opts, c: c, h: h, w: w}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		// A class folder may be a link to a folder elsewhere (a subset of a
		// data set made of links), which ReadDir reports as a link.
		if info, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && info.IsDir() {
			d.classes = append(d.classes, e.Name())
		}
	}
	switch len(d.classes) {
	case 0:
		return nil, fmt.Errorf("data: image folder %s has no class subfolders", dir)
	case 1:
		return nil, fmt.Errorf("data: image folder %s has one class subfolder (%q): a classifier needs at least 2", dir, d.classes[0])
	}
	for label, class := range d.classes {
		n := 0
		root, err := filepath.EvalSymlinks(filepath.Join(dir, class))
		if err != nil {
			return nil, fmt.Errorf("data: image folder: listing class %q: %w", class, err)
		}
		err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !slices.Contains(folderExts, strings.ToLower(filepath.Ext(path))) {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			d.files = append(d.files, filepath.Join(class, rel))
			d.labels = append(d.labels, int32(label))
			n++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: image folder: listing class %q: %w", class, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("data: image folder %s: class folder %q holds no .jpg, .jpeg or .png file",
				dir, filepath.Join(dir, class))
		}
		d.counts = append(d.counts, n)
	}
	d.bad = make([]atomic.Bool, len(d.files))
	return d, nil
}

// FolderSplits lists root/train and root/val (ImageNet's layout after the
// usual preparation) as two image-folder data sets with their own options
// (a training and a validation transform), and checks that both have the
// same classes, so that labels mean the same in each.
func FolderSplits(root string, train, val FolderOptions) (trainSet, valSet *FolderSet, err error) {
	if trainSet, err = Folder(filepath.Join(root, "train"), train); err != nil {
		return nil, nil, err
	}
	if valSet, err = Folder(filepath.Join(root, "val"), val); err != nil {
		return nil, nil, err
	}
	if !slices.Equal(trainSet.classes, valSet.classes) {
		return nil, nil, fmt.Errorf("data: image folders %s and %s have different classes: %d (%s) and %d (%s)",
			trainSet.dir, valSet.dir, len(trainSet.classes), classList(trainSet.classes),
			len(valSet.classes), classList(valSet.classes))
	}
	return trainSet, valSet, nil
}

// classList names up to the first five classes, for an error message.
func classList(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// Len returns the number of image files listed, bad ones included.
func (d *FolderSet) Len() int { return len(d.files) }

// Shape returns the transform's output shape.
func (d *FolderSet) Shape() (c, h, w int) { return d.c, d.h, d.w }

// Classes returns the number of classes.
func (d *FolderSet) Classes() int { return len(d.classes) }

// ClassNames returns the class folders' names, indexed by label.
func (d *FolderSet) ClassNames() []string { return slices.Clone(d.classes) }

// Counts returns the number of image files of each class, indexed by label.
func (d *FolderSet) Counts() []int { return slices.Clone(d.counts) }

// Skipped returns the number of distinct files found bad and skipped so far.
func (d *FolderSet) Skipped() int { return int(d.skipped.Load()) }

// Example is EpochExample for epoch 0. A Loader that calls only Example
// gives every epoch the same augmentation; it should call EpochExample.
func (d *FolderSet) Example(i int, dst []float32) (int, error) {
	return d.EpochExample(0, i, dst)
}

// EpochExample decodes image i and writes the transform's output for epoch
// epoch into dst, returning its label. The transform's generator is
// [augment.Rand](Seed, epoch, i): the example depends only on the seed,
// the epoch and i. With SkipBad, a bad file is replaced by the next good
// one in index order (wrapping), transformed with example i's generator
// and returned with its own label; without it, the error names the file.
func (d *FolderSet) EpochExample(epoch, i int, dst []float32) (int, error) {
	if err := checkExample(d, i, dst, d.c*d.h*d.w); err != nil {
		return 0, err
	}
	for k := range len(d.files) {
		j := (i + k) % len(d.files)
		if d.bad[j].Load() {
			continue
		}
		img, err := d.decode(j)
		if err != nil {
			if !d.opts.SkipBad {
				return 0, err
			}
			d.markBad(j, err)
			continue
		}
		if err := d.opts.Transform.Apply(img, augment.Rand(d.opts.Seed, epoch, i), dst); err != nil {
			return 0, fmt.Errorf("data: transforming %s: %w", filepath.Join(d.dir, d.files[j]), err)
		}
		return int(d.labels[j]), nil
	}
	return 0, fmt.Errorf("data: image folder %s: none of its %d files could be decoded", d.dir, len(d.files))
}

// markBad records file j as bad and reports it, once.
func (d *FolderSet) markBad(j int, err error) {
	if !d.bad[j].CompareAndSwap(false, true) {
		return
	}
	d.skipped.Add(1)
	if d.opts.Warn != nil {
		d.opts.Warn(err)
	} else {
		log.Printf("warning: %v; skipped", err)
	}
}

// decode reads file j and converts it to the transform's channel count.
func (d *FolderSet) decode(j int) (*augment.Image, error) {
	path := filepath.Join(d.dir, d.files[j])
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: reading image: %w", err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("data: decoding %s: %w", path, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width*cfg.Height > maxFolderPixels {
		return nil, fmt.Errorf("data: decoding %s: %d×%d pixels: expected 1 to %d", path, cfg.Width, cfg.Height, maxFolderPixels)
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("data: decoding %s: %w", path, err)
	}
	img, err := augment.FromImage(src, d.c)
	if err != nil {
		return nil, fmt.Errorf("data: decoding %s: %w", path, err)
	}
	return img, nil
}
