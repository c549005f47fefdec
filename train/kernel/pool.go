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
	// ChannelsLast lays x, y and their gradients out NHWC instead of NCHW.
	ChannelsLast bool
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

// Forward sets y to the maximum of each window of x.
func (p *MaxPool2D[T]) Forward(x, y []T) {
	s := p.s
	checkLen("MaxPool2D.Forward", "x", x, s.XLen())
	checkLen("MaxPool2D.Forward", "y", y, s.YLen())
	if s.ChannelsLast {
		p.forwardNHWC(x, y)
		return
	}
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
	if s.ChannelsLast {
		// argmax holds, per output element (n, position, c), the input
		// position h·W+w.
		for i, g := range dy {
			n, c := i/(out*s.C), i%s.C
			dx[(n*in+int(p.argmax[i]))*s.C+c] += g
		}
		return
	}
	for pl := range s.N * s.C {
		dxs := dx[pl*in : (pl+1)*in]
		for i, g := range dy[pl*out : (pl+1)*out] {
			dxs[p.argmax[pl*out+i]] += g
		}
	}
}

// forwardNHWC is Forward on NHWC tensors: each window's positions in
// turn, compared across the channels, which lie next to each other.
func (p *MaxPool2D[T]) forwardNHWC(x, y []T) {
	s := p.s
	for n := range s.N {
		xs := x[n*s.H*s.W*s.C : (n+1)*s.H*s.W*s.C]
		for r, hw := range p.hw {
			for q, ww := range p.ww {
				o := ((n*p.oh+r)*p.ow + q) * s.C
				best, at := y[o:o+s.C], p.argmax[o:o+s.C]
				first := hw.lo*s.W + ww.lo
				copy(best, xs[first*s.C:(first+1)*s.C])
				for c := range at {
					at[c] = int32(first)
				}
				for h := hw.lo; h < hw.hi; h++ {
					for w := ww.lo; w < ww.hi; w++ {
						pos := h*s.W + w
						for c, v := range xs[pos*s.C : (pos+1)*s.C] {
							if v > best[c] {
								best[c], at[c] = v, int32(pos)
							}
						}
					}
				}
			}
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
	s      PoolShape
	oh, ow int
	hw, ww []window
	inv    []T // 1/divisor per output position, OutH×OutW
}

// NewAvgPool2D validates the shape and precomputes each window's divisor.
func NewAvgPool2D[T Float](s PoolShape, countIncludePad bool) (*AvgPool2D[T], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	p := &AvgPool2D[T]{s: s, oh: s.OutH(), ow: s.OutW()}
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

// Forward sets y to the average of each window of x.
func (p *AvgPool2D[T]) Forward(x, y []T) {
	s := p.s
	checkLen("AvgPool2D.Forward", "x", x, s.XLen())
	checkLen("AvgPool2D.Forward", "y", y, s.YLen())
	if s.ChannelsLast {
		p.passNHWC(x, y, false)
		return
	}
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
	if s.ChannelsLast {
		p.passNHWC(dx, dy, true)
		return
	}
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

// passNHWC is Forward (y = window averages of x) or, with backward,
// Backward (x += dy·divisor over each window, into a cleared x) on NHWC
// tensors, the channels of a position next to each other.
func (p *AvgPool2D[T]) passNHWC(x, y []T, backward bool) {
	s := p.s
	for n := range s.N {
		xs := x[n*s.H*s.W*s.C : (n+1)*s.H*s.W*s.C]
		for r, hw := range p.hw {
			for q, ww := range p.ww {
				o := ((n*p.oh+r)*p.ow + q) * s.C
				ys, inv := y[o:o+s.C], p.inv[r*p.ow+q]
				if !backward {
					clear(ys)
				}
				for h := hw.lo; h < hw.hi; h++ {
					for w := ww.lo; w < ww.hi; w++ {
						pos := (h*s.W + w) * s.C
						xp := xs[pos : pos+s.C]
						if backward {
							for c, g := range ys {
								xp[c] += g * inv
							}
							continue
						}
						for c, v := range xp {
							ys[c] += v
						}
					}
				}
				if !backward {
					for c := range ys {
						ys[c] *= inv
					}
				}
			}
		}
	}
}

// GlobalAvgPoolNHWC is GlobalAvgPool on n NHWC images of c channels and hw
// positions; y, N×C, is the same in either layout.
func GlobalAvgPoolNHWC[T Float](x, y []T, n, c, hw int) {
	checkLen("GlobalAvgPoolNHWC", "x", x, n*c*hw)
	checkLen("GlobalAvgPoolNHWC", "y", y, n*c)
	inv := 1 / T(hw)
	clear(y)
	for i := range n {
		sum := y[i*c : (i+1)*c]
		for p := range hw {
			for ch, v := range x[(i*hw+p)*c : (i*hw+p+1)*c] {
				sum[ch] += v
			}
		}
		for ch := range sum {
			sum[ch] *= inv
		}
	}
}

// GlobalAvgPoolNHWCBackward sets dx (n NHWC images) to the gradient of
// GlobalAvgPoolNHWC given dy (N×C).
func GlobalAvgPoolNHWCBackward[T Float](dy, dx []T, n, c, hw int) {
	checkLen("GlobalAvgPoolNHWCBackward", "dy", dy, n*c)
	checkLen("GlobalAvgPoolNHWCBackward", "dx", dx, n*c*hw)
	inv := 1 / T(hw)
	for i := range n {
		for p := range hw {
			row := dx[(i*hw+p)*c : (i*hw+p+1)*c]
			for ch, g := range dy[i*c : (i+1)*c] {
				row[ch] = g * inv
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
