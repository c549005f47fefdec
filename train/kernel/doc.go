// Package kernel holds the numeric kernels of the training engine: plain
// functions and structs over NCHW slices (convolution, BatchNorm, pooling,
// ReLU, Add, Linear, bilinear resize, softmax cross-entropy per row or
// per pixel) with their backward passes, a cgo binding to OpenBLAS's GEMM
// that the heavy ones run on, and one to oneDNN's convolutions.
//
// The package knows nothing of Gorgonia or ONNX: the train package wraps
// these kernels as Gorgonia ops. Everything is generic over Float so that
// the engine trains in float32 while tests check every gradient in float64
// against finite differences.
//
// Convolutions in float32 run on oneDNN (dnnl.go), whose JIT kernels are
// chosen by CPUID at run time (AVX2, AVX-512, AVX512_BF16, AMX), in fp32
// or, with NewConv2DPrecision(s, BF16), with bfloat16 inputs and float32
// accumulation and outputs. It measured faster than the Go algorithms
// below on ResNet layers, except the backward pass with dx of layers with
// fewer than 8 input channels or a strided or padded 1×1 kernel, which runs
// im2col (docs/engine-kernels.md). Float64 convolutions run the Go
// algorithms, which the gradient checks verify and oneDNN is checked
// against.
//
// Why hand-written kernels: Gorgonia's own convolution spends most of its
// time in im2col, zeroing fresh buffers, transposes and allocation, and
// reaches a few percent of the machine's sgemm rate. The kernels here
// therefore
//   - allocate their scratch buffers (and oneDNN's primitives, memories
//     and reorders) once, at construction, for one layer and one shape,
//     and never allocate in Forward or Backward;
//   - run 3×3 convolutions (any kernel larger than 1×1, with 8 or more
//     input channels) without im2col: each image is copied once into a
//     zero-padded buffer, split into stride phases when the stride is
//     above 1, and each kernel tap is one GEMM on a shifted view of it;
//   - run 1×1 stride-1 unpadded convolutions as one GEMM per image;
//   - keep im2col + GEMM for the rest (a 3-channel stem, strided 1×1
//     shortcuts), where it is as fast or faster.
//
// Conventions. Tensors are row-major NCHW slices whose lengths must match
// the shape given at construction; a mismatch is a programming error and
// panics with a message naming the argument. Backward passes overwrite
// their gradient outputs (they never accumulate), and accept nil for a
// gradient that is not wanted where the documentation says so. A struct
// that owns scratch buffers (Conv2D, BatchNorm, MaxPool2D, AvgPool2D,
// Bilinear, PixelCrossEntropy) is not safe for concurrent use: give each
// goroutine replica its own.
package kernel

// Float is the element type of every kernel: float32 for training speed,
// float64 for exact gradient checks.
type Float interface{ ~float32 | ~float64 }
