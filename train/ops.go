package train

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the element type the engine trains in: float32 for speed,
// float64 for exact gradient checks.
type Float = kernel.Float

// dtypeOf returns Gorgonia's dtype for T.
func dtypeOf[T Float]() tensor.Dtype {
	var zero T
	if _, ok := any(zero).(float64); ok {
		return tensor.Float64
	}
	return tensor.Float32
}

// opIDs numbers op instances: each op's hash includes its id, so Gorgonia
// never merges two nodes of ours that happen to have equal inputs.
var opIDs atomic.Int64

// opBase carries what every op of the engine shares. The engine's ops own
// their output buffers: allocated once, refilled by every Do and returned
// as the same tensor, so a training step allocates (almost) nothing and
// the TapeMachine's Reset cannot throw the buffers away.
type opBase struct {
	id     int64
	name   string // the ONNX node this op lowers, for errors and String
	kind   string
	inDims []int // rank of each input; 0 means a scalar
	shape  tensor.Shape
	// inputs are the nodes the op was applied to, in order (Gorgonia
	// does not export a node's children), for backprop.
	inputs []*G.Node
	// order, when the net's memory is planned, checks at each run that the
	// ops run in the planned order (memplan.go); pos is this op's place.
	order *runOrder
	pos   int
}

// engineOp is what every op of the engine is: an op over an opBase.
type engineOp interface {
	G.Op
	base() *opBase
}

func (o *opBase) base() *opBase { return o }

// apply adds op, applied to inputs, to their graph, and records the
// inputs for backprop.
func apply(op engineOp, inputs ...*G.Node) (*G.Node, error) {
	op.base().inputs = inputs
	return G.ApplyOp(op, inputs...)
}

func newBase(kind, name string, shape tensor.Shape, inDims ...int) opBase {
	return opBase{id: opIDs.Add(1), name: name, kind: kind, inDims: inDims, shape: shape}
}

func (o *opBase) Arity() int { return len(o.inDims) }

func (o *opBase) Type() hm.Type {
	a := hm.TypeVariable('a')
	typ := func(dims int) hm.Type {
		if dims == 0 {
			return a
		}
		return &G.TensorType{Dims: dims, Of: a}
	}
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, typ(d))
	}
	return hm.NewFnType(append(ts, typ(len(o.shape)))...)
}

func (o *opBase) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *opBase) ReturnsPtr() bool                               { return false }
func (o *opBase) CallsExtern() bool                              { return false }
func (o *opBase) OverwritesInput() int                           { return -1 }
func (o *opBase) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "%s#%d", o.kind, o.id) }
func (o *opBase) String() string                                 { return fmt.Sprintf("%s(%s)", o.kind, o.name) }

func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// buffer is an owned output tensor of element type T.
type buffer[T Float] struct {
	t     *tensor.Dense
	data  []T
	shape tensor.Shape
}

func newBuffer[T Float](shape tensor.Shape) buffer[T] {
	b := buffer[T]{shape: shape.Clone()}
	b.back(make([]T, shape.TotalSize()))
	return b
}

// newOutput returns a buffer without storage, for an op's output that the
// memory plan gives storage to (memplan.go).
func newOutput[T Float](shape tensor.Shape) buffer[T] { return buffer[T]{shape: shape.Clone()} }

// back makes data the buffer's storage.
func (b *buffer[T]) back(data []T) {
	b.data = data
	b.t = tensor.New(tensor.WithBacking(data), tensor.WithShape(b.shape.Clone()...))
}

// values returns the backing slices of the op's inputs, checking their
// element type.
func values[T Float](o *opBase, inputs []G.Value) ([][]T, error) {
	if o.order != nil {
		if err := o.order.ran(o); err != nil {
			return nil, err
		}
	}
	if len(inputs) != len(o.inDims) {
		return nil, fmt.Errorf("%s: expected %d inputs, found %d", o, len(o.inDims), len(inputs))
	}
	out := make([][]T, len(inputs))
	for i, v := range inputs {
		switch x := v.(type) {
		case tensor.Tensor:
			d, ok := x.Data().([]T)
			if !ok {
				return nil, fmt.Errorf("%s: input %d holds %T, expected %T", o, i, x.Data(), d)
			}
			out[i] = d
		case *G.F32:
			out[i] = []T{T(*x)}
		case *G.F64:
			out[i] = []T{T(*x)}
		default:
			return nil, fmt.Errorf("%s: input %d is a %T", o, i, v)
		}
	}
	return out, nil
}

// scalarOne is 1 as a Gorgonia scalar of element type T: the gradient of
// the loss with respect to itself.
func scalarOne[T Float]() G.Value {
	if dtypeOf[T]() == tensor.Float64 {
		return G.NewF64(1)
	}
	return G.NewF32(1)
}
