// Package augment turns decoded photographs into training and validation
// examples the way the paper's baseline does (section 2 of "Bag of Tricks
// for Image Classification", after GluonCV and torchvision): a random
// resized crop, a horizontal flip, colour jitter, AlexNet's PCA lighting
// noise and per-channel normalisation for training; a resize of the shorter
// side and a centre crop for validation.
//
// Augmentation is where much of a ResNet's ImageNet accuracy comes from, and
// where two implementations that look alike most often differ (rounding of
// the crop box, the grey weights of contrast, clipping, the order of the
// colour steps), so every step states which reference it follows and the
// tests check the geometry and the colour arithmetic against torchvision
// itself.
//
// # Images and value range
//
// An [Image] holds C planes of H×W float32 values (C×H×W order, the layout
// of a network's input), in [0, 255] as decoded: the units of the paper's
// mean (123.68, 116.779, 103.939) and std (58.393, 57.12, 57.375) and of
// the PCA eigenvalues, which are quoted on [0, 1] by fb.resnet.torch and
// multiplied by 255 by GluonCV. [FromImage] converts any image.Image to
// one or three channels.
//
// # Steps and pipelines
//
// Each transform is a [Step]: [RandomResizedCrop], [HorizontalFlip],
// [ColorJitter], [Lighting], [Normalize], [ResizeShorter], [CenterCrop]. A
// step takes its randomness from the *rand.Rand it is given and nothing
// else, so an example's augmentation is reproducible from that generator's
// seed alone. [NewTrain] and [NewVal] build a [Pipeline] from options whose
// defaults ([DefaultTrainOptions], [DefaultValOptions]) are the paper's and
// whose parts can each be switched off. [Rand] derives the generator of one
// example from (seed, epoch, index), so a data set's augmentations do not
// depend on how many goroutines load it or in which order.
//
// Colour steps clip to [0, 255] after each operation, as GluonCV's steps do
// on uint8 images and torchvision's do on float images, so values stay
// finite and in range until normalisation.
package augment
