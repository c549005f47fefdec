// Package data is the data side of the training engine: data sets and the
// batch loader that feeds the trainer.
//
// A [Dataset] is an indexable collection of labelled examples of one shape
// (C×H×W), each decoded on demand into a float32 buffer the caller owns.
// [Images] holds a whole data set in memory as uint8 (a quarter of the
// float32 size: MNIST's 60,000 training images take 47 MB) and converts
// bytes to floats as examples are asked for; [MNIST] reads the canonical
// idx files into two of them. Other formats (ImageFolder, CIFAR-10,
// Fashion-MNIST) are further Dataset implementations, and the adapters
// [RepeatChannels] and [Normalize] wrap any Dataset.
//
// # Dense labels
//
// A [DenseDataset] labels every pixel: an image and an H×W label map per
// example, for semantic segmentation. [DigitCanvases] (`--data mnist-seg`,
// made by [MNISTCanvases]) is one: canvases of real MNIST digits placed at
// seeded random positions and sizes, each digit's ink (resized value of
// [CanvasInk] or more, intensity ≥ 0.5) labelled digit+1 and the rest
// [CanvasBackground] (0), 11 classes in all. [NormalizeDense] and
// [RepeatChannelsDense] wrap a DenseDataset as their namesakes wrap a
// Dataset, and [NewDenseLoader] batches one, with the label maps in
// [Batch].Dense.
//
// # Value range and normalisation
//
// [Images] maps a stored byte b to b·scale. MNIST uses scale 1/255, so its
// values lie in [0,1]: the convention of torchvision's ToTensor, under which
// MNIST's well-known statistics, mean [MNISTMean] and std [MNISTStd], are
// quoted. The paper's ImageNet recipe decodes to [0,255] instead and
// normalises with mean (123.68, 116.779, 103.939) and std (58.393, 57.12,
// 57.375): numbers in [0,255] units. Per-channel normalisation
// (x − mean[c]) / std[c] makes the range irrelevant to the model as long as
// mean and std are in the units of the values, since
// (b/255 − m)/s = (b − 255m)/(255s). So [Normalize] takes mean and std
// explicitly, [MeanStd] measures them in a data set's own units, and the
// mistake to avoid is mixing units (0.1307 applied to [0,255] values).
//
// # Loading batches
//
// A [Loader] cuts a Dataset into batches (NCHW float32 images, int32
// labels, or N×H×W int32 label maps for a DenseDataset). The order of epoch e is a permutation drawn from a PCG generator
// seeded by (seed, e), so batch k of epoch e depends only on the data set,
// the seed, e and k: not on the number of workers, and not on whether the
// epoch was started from its beginning or resumed at batch k. Background
// workers fill batches ahead into a bounded set of reused buffers, so the
// trainer does not wait for data when it is the slower side, and nothing is
// allocated per batch after an epoch's start.
package data
