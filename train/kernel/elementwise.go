package kernel

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
	for i, v := range a {
		g := dy[i]
		if !(v > 0) {
			g = 0
		}
		dx[i] = g
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
