package kernel

// ReLU sets y = max(x, 0). y may be x.
func ReLU[T Float](x, y []T) {
	checkLen("ReLU", "y", y, len(x))
	if x32, ok := any(x).([]float32); ok {
		vecReLU(x32, any(y).([]float32))
		return
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReLUBackward sets dx = dy where the activation is positive and 0
// elsewhere (NaN included). a is either ReLU's input or its output: both
// are positive at the same places. dx may be dy.
func ReLUBackward[T Float](a, dy, dx []T) {
	checkLen("ReLUBackward", "dy", dy, len(a))
	checkLen("ReLUBackward", "dx", dx, len(a))
	if a32, ok := any(a).([]float32); ok {
		vecReLUGrad(a32, any(dy).([]float32), any(dx).([]float32))
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

// AddReLU sets y = max(a + b, 0): a residual block's sum and the ReLU
// after it in one pass. y may be a or b.
func AddReLU[T Float](a, b, y []T) { add(a, b, y, true) }

// Add sets y = a + b elementwise on tensors of one shape; y may be a or b.
// Its backward is the identity: both inputs receive dy.
func Add[T Float](a, b, y []T) { add(a, b, y, false) }

func add[T Float](a, b, y []T, relu bool) {
	checkLen("Add", "b", b, len(a))
	checkLen("Add", "y", y, len(a))
	if a32, ok := any(a).([]float32); ok {
		vecAdd(a32, any(b).([]float32), any(y).([]float32), relu)
		return
	}
	for i, v := range a {
		y[i] = v + b[i]
		if relu {
			y[i] = max(y[i], 0)
		}
	}
}
