package kernel

import "fmt"

// PoolShape is the geometry of a 2-D max or average pool, as ONNX's
// MaxPool and AveragePool describe it (dilation 1, explicit pads).
type PoolShape struct {
	N, C, H, W       int    // input: batch, channels, height, width
	KH, KW           int    // window height and width
	StrideH, StrideW int    // strides; 0 means 1
	Pads             [4]int // padding in ONNX order: top, left, bottom, right
	// CeilMode rounds the output size up instead of down; a last window
	// that would start in the bottom or right padding is dropped, as in
	// ONNX Runtime and PyTorch.
	CeilMode bool
}

// outSize is the output length of one spatial axis.
func outSize(in, k, s, begin, end int, ceil bool) int {
	span := in + begin + end - k
	if !ceil {
		return span/s + 1
	}
	n := (span+s-1)/s + 1
	if (n-1)*s >= in+begin {
		n--
	}
	return n
}

// OutH is the output height.
func (s PoolShape) OutH() int {
	return outSize(s.H, s.KH, stride(s.StrideH), s.Pads[0], s.Pads[2], s.CeilMode)
}

// OutW is the output width.
func (s PoolShape) OutW() int {
	return outSize(s.W, s.KW, stride(s.StrideW), s.Pads[1], s.Pads[3], s.CeilMode)
}

// XLen is the element count of the input, N×C×H×W.
func (s PoolShape) XLen() int { return s.N * s.C * s.H * s.W }

// YLen is the element count of the output, N×C×OutH×OutW.
func (s PoolShape) YLen() int { return s.N * s.C * s.OutH() * s.OutW() }

// validate checks the shape. Pads must be smaller than the window, so that
// every window overlaps the input (PyTorch requires at most half).
func (s PoolShape) validate() error {
	if s.N < 1 || s.C < 1 || s.H < 1 || s.W < 1 || s.KH < 1 || s.KW < 1 || s.StrideH < 0 || s.StrideW < 0 {
		return fmt.Errorf("pool: expected positive sizes, found N=%d C=%d H=%d W=%d window %d×%d strides %d×%d", s.N, s.C, s.H, s.W, s.KH, s.KW, s.StrideH, s.StrideW)
	}
	for i, p := range s.Pads {
		k := s.KH
		if i%2 == 1 {
			k = s.KW
		}
		if p < 0 || p >= k {
			return fmt.Errorf("pool: expected pads in [0, window), found pads %v for window %d×%d", s.Pads, s.KH, s.KW)
		}
	}
	if s.H+s.Pads[0]+s.Pads[2] < s.KH || s.W+s.Pads[1]+s.Pads[3] < s.KW {
		return fmt.Errorf("pool: window %d×%d is larger than the padded input %d×%d", s.KH, s.KW, s.H+s.Pads[0]+s.Pads[2], s.W+s.Pads[1]+s.Pads[3])
	}
	return nil
}

// window is the input range [lo, hi) of one output position on one axis,
// and the extent the count_include_pad divisor counts.
type window struct{ lo, hi, padded int }

// windows returns the window of each output position along one axis. The
// padded extent counts positions in [−begin, in+end) only: positions a
// ceil_mode window reaches beyond the end padding are not counted, as in
// ONNX Runtime's AveragePool.
func windows(out, in, k, s, begin, end int) []window {
	ws := make([]window, out)
	for o := range ws {
		start := o*s - begin
		stop := min(start+k, in+end)
		ws[o] = window{lo: max(start, 0), hi: min(stop, in), padded: stop - start}
	}
	return ws
}

// MaxPool2D is a max pool of a fixed shape. Forward records the position
// of each window's maximum, the first one on ties, and Backward routes the
// gradient there.
type MaxPool2D[T Float] struct {
	s      PoolShape
	oh, ow int
	hw, ww []window
	argmax []int32 // per output element: index within its input plane
}

// NewMaxPool2D validates the shape and allocates the argmax buffer.
func NewMaxPool2D[T Float](s PoolShape) (*MaxPool2D[T], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	p := &MaxPool2D[T]{s: s, oh: s.OutH(), ow: s.OutW()}
	p.hw = windows(p.oh, s.H, s.KH, stride(s.StrideH), s.Pads[0], s.Pads[2])
	p.ww = windows(p.ow, s.W, s.KW, stride(s.StrideW), s.Pads[1], s.Pads[3])
	p.argmax = make([]int32, s.YLen())
	return p, nil
}

// Shape returns the shape the pool was built for.
func (p *MaxPool2D[T]) Shape() PoolShape { return p.s }

// Argmax returns, for each output element of the last Forward, the index
// h·W+w of its maximum within its input plane. The slice is owned by p.
func (p *MaxPool2D[T]) Argmax() []int32 { return p.argmax }

// Forward sets y to the maximum of each window of x.
func (p *MaxPool2D[T]) Forward(x, y []T) {
	s := p.s
	checkLen("MaxPool2D.Forward", "x", x, s.XLen())
	checkLen("MaxPool2D.Forward", "y", y, s.YLen())
	in, out := s.H*s.W, p.oh*p.ow
	for pl := range s.N * s.C {
		xs, ys, am := x[pl*in:(pl+1)*in], y[pl*out:(pl+1)*out], p.argmax[pl*out:(pl+1)*out]
		for r, hw := range p.hw {
			for q, ww := range p.ww {
				best, at := xs[hw.lo*s.W+ww.lo], hw.lo*s.W+ww.lo
				for h := hw.lo; h < hw.hi; h++ {
					row := xs[h*s.W : h*s.W+ww.hi]
					for w := ww.lo; w < ww.hi; w++ {
						if row[w] > best {
							best, at = row[w], h*s.W+w
						}
					}
				}
				ys[r*p.ow+q], am[r*p.ow+q] = best, int32(at)
			}
		}
	}
}

// Backward sets dx to the gradient routed from dy to the maxima recorded
// by the last Forward (dx is overwritten).
func (p *MaxPool2D[T]) Backward(dy, dx []T) {
	s := p.s
	checkLen("MaxPool2D.Backward", "dy", dy, s.YLen())
	checkLen("MaxPool2D.Backward", "dx", dx, s.XLen())
	clear(dx)
	in, out := s.H*s.W, p.oh*p.ow
	for pl := range s.N * s.C {
		dxs := dx[pl*in : (pl+1)*in]
		for i, g := range dy[pl*out : (pl+1)*out] {
			dxs[p.argmax[pl*out+i]] += g
		}
	}
}

// AvgPool2D is an average pool of a fixed shape. With count_include_pad
// false each window's sum is divided by the number of input elements in
// it; with it true, by the window's size clipped to the padded input
// [−begin, in+end) on each axis, as ONNX Runtime computes it: padded
// positions count, positions past the end padding that ceil_mode adds do
// not.
type AvgPool2D[T Float] struct {
	s        PoolShape
	countPad bool
	oh, ow   int
	hw, ww   []window
	inv      []T // 1/divisor per output position, OutH×OutW
}

// NewAvgPool2D validates the shape and precomputes each window's divisor.
func NewAvgPool2D[T Float](s PoolShape, countIncludePad bool) (*AvgPool2D[T], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	p := &AvgPool2D[T]{s: s, countPad: countIncludePad, oh: s.OutH(), ow: s.OutW()}
	p.hw = windows(p.oh, s.H, s.KH, stride(s.StrideH), s.Pads[0], s.Pads[2])
	p.ww = windows(p.ow, s.W, s.KW, stride(s.StrideW), s.Pads[1], s.Pads[3])
	p.inv = make([]T, p.oh*p.ow)
	for r, hw := range p.hw {
		for q, ww := range p.ww {
			n := (hw.hi - hw.lo) * (ww.hi - ww.lo)
			if countIncludePad {
				n = hw.padded * ww.padded
			}
			p.inv[r*p.ow+q] = T(1 / float64(n))
		}
	}
	return p, nil
}

// Shape returns the shape the pool was built for.
func (p *AvgPool2D[T]) Shape() PoolShape { return p.s }

// CountIncludePad reports whether padded positions count in the divisor.
func (p *AvgPool2D[T]) CountIncludePad() bool { return p.countPad }

// Forward sets y to the average of each window of x.
func (p *AvgPool2D[T]) Forward(x, y []T) {
	s := p.s
	checkLen("AvgPool2D.Forward", "x", x, s.XLen())
	checkLen("AvgPool2D.Forward", "y", y, s.YLen())
	in, out := s.H*s.W, p.oh*p.ow
	for pl := range s.N * s.C {
		xs, ys := x[pl*in:(pl+1)*in], y[pl*out:(pl+1)*out]
		for r, hw := range p.hw {
			for q, ww := range p.ww {
				var sum T
				for h := hw.lo; h < hw.hi; h++ {
					for _, v := range xs[h*s.W+ww.lo : h*s.W+ww.hi] {
						sum += v
					}
				}
				ys[r*p.ow+q] = sum * p.inv[r*p.ow+q]
			}
		}
	}
}

// Backward sets dx to the gradient of the averages given dy (dx is
// overwritten).
func (p *AvgPool2D[T]) Backward(dy, dx []T) {
	s := p.s
	checkLen("AvgPool2D.Backward", "dy", dy, s.YLen())
	checkLen("AvgPool2D.Backward", "dx", dx, s.XLen())
	clear(dx)
	in, out := s.H*s.W, p.oh*p.ow
	for pl := range s.N * s.C {
		dxs, dys := dx[pl*in:(pl+1)*in], dy[pl*out:(pl+1)*out]
		for r, hw := range p.hw {
			for q, ww := range p.ww {
				g := dys[r*p.ow+q] * p.inv[r*p.ow+q]
				for h := hw.lo; h < hw.hi; h++ {
					row := dxs[h*s.W+ww.lo : h*s.W+ww.hi]
					for i := range row {
						row[i] += g
					}
				}
			}
		}
	}
}

// GlobalAvgPool sets y (nc elements) to the mean of each of x's nc planes
// of hw elements: ONNX's GlobalAveragePool on an N×C×H×W tensor with
// nc = N·C and hw = H·W.
func GlobalAvgPool[T Float](x, y []T, nc, hw int) {
	checkLen("GlobalAvgPool", "x", x, nc*hw)
	checkLen("GlobalAvgPool", "y", y, nc)
	inv := 1 / float64(hw)
	for i := range nc {
		y[i] = T(float64(sumOf(x[i*hw:(i+1)*hw])) * inv)
	}
}

// GlobalAvgPoolBackward sets dx (nc planes of hw elements) to the gradient
// of GlobalAvgPool given dy (nc elements).
func GlobalAvgPoolBackward[T Float](dy, dx []T, nc, hw int) {
	checkLen("GlobalAvgPoolBackward", "dy", dy, nc)
	checkLen("GlobalAvgPoolBackward", "dx", dx, nc*hw)
	inv := 1 / T(hw)
	for i, g := range dy {
		fill(dx[i*hw:(i+1)*hw], g*inv)
	}
}
