package kernel

import "math"

// ReLU sets y = max(x, 0). y may be x.
func ReLU[T Float](x, y []T) {
	checkLen("ReLU", "y", y, len(x))
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReLUBackward sets dx = dy where the activation is positive and 0
// elsewhere. a is either ReLU's input or its output: both are positive at
// the same places. dx may be dy.
func ReLUBackward[T Float](a, dy, dx []T) {
	checkLen("ReLUBackward", "dy", dy, len(a))
	checkLen("ReLUBackward", "dx", dx, len(a))
	if a32, ok := any(a).([]float32); ok {
		reluBackward32(a32, any(dy).([]float32), any(dx).([]float32))
		return
	}
	for i, v := range a {
		g := dy[i]
		if !(v > 0) {
			g = 0
		}
		dx[i] = g
	}
}

// reluBackward32 is ReLUBackward for float32 without a branch: half the
// activations of a trained net are positive, so a branch mispredicts
// often and made this loop cost as much as a convolution's data movement.
// The mask is all ones where a's bits, read as int32, are positive (a > 0:
// sign clear, not zero) and zero elsewhere, −0 included.
func reluBackward32(a, dy, dx []float32) {
	dy, dx = dy[:len(a)], dx[:len(a)]
	for i, v := range a {
		s := int32(math.Float32bits(v))
		mask := uint32((-s)>>31) &^ uint32(s>>31)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & mask)
	}
}

// AddReLU sets y = max(a + b, 0): a residual block's sum and the ReLU
// after it in one pass. y may be a or b.
func AddReLU[T Float](a, b, y []T) {
	checkLen("AddReLU", "b", b, len(a))
	checkLen("AddReLU", "y", y, len(a))
	for i, v := range a {
		y[i] = max(v+b[i], 0)
	}
}

// Add sets y = a + b elementwise on tensors of one shape; y may be a or b.
// Its backward is the identity: both inputs receive dy.
func Add[T Float](a, b, y []T) {
	checkLen("Add", "b", b, len(a))
	checkLen("Add", "y", y, len(a))
	for i, v := range a {
		y[i] = v + b[i]
	}
}
