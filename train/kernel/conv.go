package kernel

import (
	"fmt"
	"math"
	"unsafe"
)

// ConvShape is the geometry of one 2-D convolution with group 1 and
// dilation 1, as ONNX's Conv describes it.
type ConvShape struct {
	N, C, H, W       int    // input: batch, channels, height, width
	K                int    // output channels
	KH, KW           int    // kernel height and width
	StrideH, StrideW int    // strides; 0 means 1
	Pads             [4]int // zero padding in ONNX order: top, left, bottom, right
	// XChannelsLast and YChannelsLast lay x (and dx) and y (and dy) out
	// NHWC instead of NCHW; float32 only (oneDNN).
	XChannelsLast, YChannelsLast bool
}

// OutH is the output height.
func (s ConvShape) OutH() int { return (s.H+s.Pads[0]+s.Pads[2]-s.KH)/stride(s.StrideH) + 1 }

// OutW is the output width.
func (s ConvShape) OutW() int { return (s.W+s.Pads[1]+s.Pads[3]-s.KW)/stride(s.StrideW) + 1 }

// XLen is the element count of the input, N×C×H×W.
func (s ConvShape) XLen() int { return s.N * s.C * s.H * s.W }

// WLen is the element count of the weight, K×C×KH×KW.
func (s ConvShape) WLen() int { return s.K * s.C * s.KH * s.KW }

// YLen is the element count of the output, N×K×OutH×OutW.
func (s ConvShape) YLen() int { return s.N * s.K * s.OutH() * s.OutW() }

// FLOPs is the multiply-add count of one forward pass times two.
func (s ConvShape) FLOPs() float64 {
	return 2 * float64(s.N) * float64(s.K) * float64(s.OutH()*s.OutW()) * float64(s.C*s.KH*s.KW)
}

func (s ConvShape) validate() error {
	if s.N < 1 || s.C < 1 || s.H < 1 || s.W < 1 || s.K < 1 || s.KH < 1 || s.KW < 1 {
		return fmt.Errorf("conv: expected positive sizes, found N=%d C=%d H=%d W=%d K=%d kernel %d×%d", s.N, s.C, s.H, s.W, s.K, s.KH, s.KW)
	}
	if s.StrideH < 0 || s.StrideW < 0 {
		return fmt.Errorf("conv: expected positive strides, found %d×%d", s.StrideH, s.StrideW)
	}
	for _, p := range s.Pads {
		if p < 0 {
			return fmt.Errorf("conv: expected non-negative pads, found %v", s.Pads)
		}
	}
	if s.H+s.Pads[0]+s.Pads[2] < s.KH || s.W+s.Pads[1]+s.Pads[3] < s.KW {
		return fmt.Errorf("conv: kernel %d×%d is larger than the padded input %d×%d", s.KH, s.KW, s.H+s.Pads[0]+s.Pads[2], s.W+s.Pads[1]+s.Pads[3])
	}
	// Every buffer, and every index into one, must fit an int32 for BLAS.
	hp := roundUp(s.H+s.Pads[0]+s.Pads[2], stride(s.StrideH))
	wp := roundUp(s.W+s.Pads[1]+s.Pads[3], stride(s.StrideW))
	for _, n := range []int{s.XLen(), s.WLen(), s.YLen(), s.C * s.KH * s.KW * s.OutH() * s.OutW(), s.C * hp * wp, s.K * s.OutH() * wp} {
		if n > math.MaxInt32 {
			return fmt.Errorf("conv: a buffer of %d elements is too large for BLAS", n)
		}
	}
	return nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// stride returns a stride with 0 read as ONNX's default, 1.
func stride(s int) int {
	if s == 0 {
		return 1
	}
	return s
}

// convPath is the algorithm a Conv2D runs.
type convPath int

const (
	// pathDirect: 1×1, stride 1, no padding. The image is already the
	// GEMM operand: one GEMM per image.
	pathDirect convPath = iota
	// pathShifted: the image is copied once into a zero-padded buffer, split
	// into its StrideH·StrideW stride phases (phase (a, b) holds padded rows
	// a, a+StrideH, … and columns b, b+StrideW, …; with stride 1 it is the
	// padded image). Kernel tap (i, j) reads phase (i mod StrideH, j mod
	// StrideW) shifted by (i div StrideH, j div StrideW): one GEMM per tap,
	// K×C by C×(output positions), with no 9× unfolded copy. The GEMM runs
	// over whole phase rows; the last columns of each output row are
	// discarded.
	pathShifted
	// pathIm2col: each image is unfolded into a (C·KH·KW)×(OutH·OutW)
	// matrix, then one GEMM. Used where C is too small for good per-tap
	// GEMMs (a network's first layer), and for strided or padded 1×1
	// convolutions, where unfolding is a plain subsampling copy.
	pathIm2col
	// pathOneDNN: oneDNN's convolution primitives, JIT-compiled for the
	// CPU's instruction set (dnnl.go); float32 only.
	pathOneDNN
)

// minShiftedChannels is the fewest input channels pathShifted is used for:
// a per-tap GEMM's inner dimension is C, and below this im2col's C·KH·KW
// is faster (a 3-channel stem runs about 1.6× faster forward unfolded).
const minShiftedChannels = 8

func (p convPath) String() string {
	return [...]string{"direct", "shifted", "im2col", "onednn"}[p]
}

// Conv2D runs one convolution layer of a fixed shape. It owns the scratch
// buffers its algorithm needs, allocated by NewConv2DPrecision and reused
// by every call; Forward and Backward allocate nothing. Forward and Backward are
// independent: Backward recomputes what it needs from x.
type Conv2D[T Float] struct {
	s      ConvShape
	sh, sw int // strides
	oh, ow int
	path   convPath
	prec   Precision

	// pathOneDNN: the primitives, and the memories they own. With
	// dxIm2col, a Backward that wants dx runs pathIm2col instead: oneDNN's
	// backward-data measured slower on those shapes (docs/engine-kernels.md).
	dnnl     *dnnlConv
	dxIm2col bool

	// pathShifted: sh·sw phases of C planes of hq×wq each; tap (i, j)'s
	// GEMMs cover l columns of a phase plane and write K rows of stride
	// oh·wq.
	hq, wq, l int
	cols      []phaseCols // the column phases taps read
	wt        []T         // weights by tap: [KH·KW][K][C]
	xp        []T         // the phases, [sh·sw][C][hq][wq]; entries in the padding stay zero
	yp        []T         // forward GEMM output, K×(oh·wq)
	dyp       []T         // dy in the layout of yp; the discarded columns stay zero
	dxp       []T         // gradient of the phases, laid out as xp
	dwt       []T         // weight gradient by tap: [KH·KW][K][C]

	// pathIm2col: the unfolded image (forward and dW), then dcol (dx).
	col []T
}

// NewConv2DPrecision validates the shape, picks the algorithm and
// allocates the scratch buffers, for products in arithmetic p. Float32 layers run on oneDNN, which measured faster (docs/engine-kernels.md),
// except a fp32 Backward that wants dx on a layer with fewer than 8 input
// channels or a strided or padded 1×1 kernel, which runs im2col; float64
// layers run on the Go algorithms, which the gradient checks verify. BF16
// needs float32 and a CPU with bfloat16 arithmetic (BF16Support), and
// runs on oneDNN: x, w and dy are rounded to bfloat16 (to nearest even)
// for the products, which accumulate in float32; y, dx, dw and db stay
// float32.
func NewConv2DPrecision[T Float](s ConvShape, p Precision) (*Conv2D[T], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	var zero T
	single := unsafe.Sizeof(zero) == 4
	switch p {
	case FP32:
	case BF16:
		if !single {
			return nil, fmt.Errorf("precision bf16 needs float32 elements; found %T", zero)
		}
		if err := BF16Support(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("conv: expected precision fp32 or bf16, found %v", p)
	}
	if !single && (s.XChannelsLast || s.YChannelsLast) {
		return nil, fmt.Errorf("conv: channels-last layouts need float32 elements; found %T", zero)
	}
	c := &Conv2D[T]{s: s, sh: stride(s.StrideH), sw: stride(s.StrideW), oh: s.OutH(), ow: s.OutW(), prec: p}
	c.path = c.goPath()
	if single {
		d, err := newDNNLConv(s, p == BF16)
		if err != nil {
			return nil, err
		}
		c.dxIm2col = p == FP32 && c.path == pathIm2col && !s.XChannelsLast && !s.YChannelsLast
		c.path, c.dnnl = pathOneDNN, d
	}
	c.alloc()
	return c, nil
}

// goPath is the Go algorithm for the layer's shape.
func (c *Conv2D[T]) goPath() convPath {
	s := c.s
	switch {
	case s.KH == 1 && s.KW == 1 && c.sh == 1 && c.sw == 1 && s.Pads == [4]int{}:
		return pathDirect
	case s.C < minShiftedChannels || s.KH*s.KW == 1:
		return pathIm2col
	}
	return pathShifted
}

// alloc allocates the scratch buffers of c.path.
func (c *Conv2D[T]) alloc() {
	s := c.s
	switch c.path {
	case pathShifted:
		hp, wp := s.H+s.Pads[0]+s.Pads[2], s.W+s.Pads[1]+s.Pads[3]
		c.hq, c.wq = (hp+c.sh-1)/c.sh, (wp+c.sw-1)/c.sw
		c.l = (c.oh-1)*c.wq + c.ow
		c.cols = nil
		for b := range min(c.sw, s.KW) {
			if iw0 := ((b-s.Pads[1])%c.sw + c.sw) % c.sw; iw0 < s.W {
				c.cols = append(c.cols, phaseCols{b: b, iw0: iw0, v0: (iw0 + s.Pads[1]) / c.sw, n: (s.W - iw0 + c.sw - 1) / c.sw})
			}
		}
		taps, phases := s.KH*s.KW, c.sh*c.sw
		c.wt = make([]T, taps*s.K*s.C)
		c.xp = make([]T, phases*s.C*c.hq*c.wq)
		c.yp = make([]T, s.K*c.oh*c.wq)
		c.dyp = make([]T, s.K*c.oh*c.wq)
		c.dxp = make([]T, phases*s.C*c.hq*c.wq)
		c.dwt = make([]T, taps*s.K*s.C)
	case pathIm2col:
		c.col = make([]T, s.C*s.KH*s.KW*c.oh*c.ow)
	case pathOneDNN:
		if c.dxIm2col {
			c.col = make([]T, s.C*s.KH*s.KW*c.oh*c.ow)
		}
	}
}

// Close frees the memory the layer holds outside Go's heap (oneDNN's
// primitives and buffers) now, instead of when the garbage collector gets
// to it. The layer must not be used afterwards; closing twice is harmless.
func (c *Conv2D[T]) Close() {
	if c.dnnl != nil {
		c.dnnl.close()
	}
}

// ArenaBytes returns the size of the arena the layer's calls need (0 for
// the Go algorithms, which need none).
func (c *Conv2D[T]) ArenaBytes() int {
	if c.dnnl == nil {
		return 0
	}
	return c.dnnl.arenaBytes()
}

// UseArena makes the layer use a for the memory it needs during a call,
// instead of an arena of its own: the layers of a net, which run one at a
// time, can share one of the largest size any needs. It panics if a is
// smaller than ArenaBytes.
func (c *Conv2D[T]) UseArena(a *Arena) {
	if c.dnnl == nil {
		return
	}
	if a.Len() < c.ArenaBytes() {
		panic(fmt.Sprintf("kernel: Conv2D.UseArena: the layer needs %d bytes, the arena has %d", c.ArenaBytes(), a.Len()))
	}
	if c.dnnl.own != nil {
		c.dnnl.own.Close()
		c.dnnl.own = nil
	}
	c.dnnl.arena = a
}

// algorithm names the algorithm the layer runs: "onednn" or "onednn-bf16"
// (oneDNN's primitives; in fp32 a Backward with dx on a layer that im2col
// would run, runs im2col), or one of the Go algorithms: "direct" (1×1
// stride-1 unpadded: one GEMM per image), "im2col" (other 1×1
// convolutions and layers with fewer than 8 input channels) or "shifted"
// (the rest: one GEMM per kernel tap on a padded, stride-phase-split copy
// of the image).
func (c *Conv2D[T]) algorithm() string {
	if c.path == pathOneDNN && c.prec == BF16 {
		return "onednn-bf16"
	}
	return c.path.String()
}

// Forward computes y = conv(x, w) + bias. x is N×C×H×W, w is K×C×KH×KW,
// bias has K elements or is nil, y (N×K×OutH×OutW) is overwritten.
func (c *Conv2D[T]) Forward(x, w, bias, y []T) {
	s := c.s
	checkLen("Conv2D.Forward", "x", x, s.XLen())
	checkLen("Conv2D.Forward", "w", w, s.WLen())
	checkLen("Conv2D.Forward", "y", y, s.YLen())
	if bias != nil {
		checkLen("Conv2D.Forward", "bias", bias, s.K)
	}
	if c.path == pathOneDNN {
		c.dnnl.forward(ptr(x), ptr(w), ptr(bias), ptr(y))
		return
	}
	xs, ys := s.C*s.H*s.W, s.K*c.oh*c.ow
	if c.path == pathShifted {
		c.packTaps(w)
	}
	for n := range s.N {
		xn, yn := x[n*xs:(n+1)*xs], y[n*ys:(n+1)*ys]
		switch c.path {
		case pathDirect:
			c.forwardGEMM(w, xn, bias, yn)
		case pathIm2col:
			c.im2col(xn)
			c.forwardGEMM(w, c.col, bias, yn)
		case pathShifted:
			c.forwardShifted(xn, bias, yn)
		}
	}
}

// forwardGEMM computes yn = w·col + bias, with col the (C·KH·KW)×(OutH·OutW)
// unfolded image.
func (c *Conv2D[T]) forwardGEMM(w, col, bias, yn []T) {
	s := c.s
	p, ckk := c.oh*c.ow, s.C*s.KH*s.KW
	var beta T
	if bias != nil {
		for k := range s.K {
			fill(yn[k*p:(k+1)*p], bias[k])
		}
		beta = 1
	}
	Gemm(false, false, s.K, p, ckk, 1, w, ckk, col, p, beta, yn, p)
}

// packTaps reorders w (K×C×KH×KW) into c.wt ([KH·KW][K][C]): one K×C
// matrix per kernel tap.
func (c *Conv2D[T]) packTaps(w []T) {
	s := c.s
	taps := s.KH * s.KW
	for k := range s.K {
		for ch := range s.C {
			src := w[(k*s.C+ch)*taps:]
			for t := range taps {
				c.wt[(t*s.K+k)*s.C+ch] = src[t]
			}
		}
	}
}

// tap returns the phase plane tap (i, j) reads, as an offset into xp or
// dxp of the tap's first element, and whether it is the first tap (in
// row-major order) to read its phase, which starts at the phase's origin.
func (c *Conv2D[T]) tap(i, j int) (off int, first bool) {
	phase := (i%c.sh)*c.sw + j%c.sw
	return phase*c.s.C*c.hq*c.wq + (i/c.sh)*c.wq + j/c.sw, i < c.sh && j < c.sw
}

// phaseCols is where the input columns of one stride phase b go: input
// columns iw0, iw0+StrideW, … (n of them) are columns v0, v0+1, … of the
// phase's rows.
type phaseCols struct{ b, iw0, v0, n int }

// phaseRow returns the offset in xp (or dxp) of the row that input row ih
// of channel ch goes to in phase (a, 0), where the padded row ih+top is
// u·StrideH + a; phase (a, b) is b·C·hq·wq further on. It also reports
// whether any tap reads phase row a (a < KH).
func (c *Conv2D[T]) phaseRow(ch, ih int) (off int, used bool) {
	h := ih + c.s.Pads[0]
	a, u := h%c.sh, h/c.sh
	return ((a*c.sw*c.s.C+ch)*c.hq + u) * c.wq, a < c.s.KH
}

// splitImage copies one image into the phases c.xp. Entries that come
// from the padding were zeroed at allocation and are never written.
func (c *Conv2D[T]) splitImage(xn []T) {
	s := c.s
	phase := s.C * c.hq * c.wq
	for ch := range s.C {
		for ih := range s.H {
			off, used := c.phaseRow(ch, ih)
			if !used {
				continue
			}
			src := xn[(ch*s.H+ih)*s.W : (ch*s.H+ih+1)*s.W]
			for _, pc := range c.cols {
				dst := c.xp[off+pc.b*phase+pc.v0:]
				dst = dst[:pc.n]
				if c.sw == 1 {
					copy(dst, src)
					continue
				}
				for v, iw := 0, pc.iw0; v < len(dst); v, iw = v+1, iw+c.sw {
					dst[v] = src[iw]
				}
			}
		}
	}
}

// forwardShifted runs one image through pathShifted: for each tap (i, j),
// yp += W_ij · (its phase plane, shifted), a K×C by C×l product, then
// crops yp's rows to the output width and adds the bias.
func (c *Conv2D[T]) forwardShifted(xn, bias, yn []T) {
	s := c.s
	c.splitImage(xn)
	plane, ypStride, kc := c.hq*c.wq, c.oh*c.wq, s.K*s.C
	for i := range s.KH {
		for j := range s.KW {
			t := i*s.KW + j
			off, _ := c.tap(i, j)
			var beta T
			if t > 0 {
				beta = 1
			}
			Gemm(false, false, s.K, c.l, s.C, 1, c.wt[t*kc:(t+1)*kc], s.C, c.xp[off:], plane, beta, c.yp, ypStride)
		}
	}
	for k := range s.K {
		var b T
		if bias != nil {
			b = bias[k]
		}
		for r := range c.oh {
			src := c.yp[k*ypStride+r*c.wq : k*ypStride+r*c.wq+c.ow]
			dst := yn[(k*c.oh+r)*c.ow : (k*c.oh+r+1)*c.ow]
			if b == 0 {
				copy(dst, src)
				continue
			}
			for q, v := range src {
				dst[q] = v + b
			}
		}
	}
}

// Backward computes the gradients of a loss L given dy = ∂L/∂y:
// dx = ∂L/∂x (skipped when dx is nil), dw = ∂L/∂w, and db = ∂L/∂bias
// (skipped when db is nil). x and w are the Forward inputs. Every gradient
// is overwritten, never accumulated. A oneDNN layer that converts x (bf16,
// or an NCHW input to a blocked layout) reads the copy the last Forward
// made, so x must be the last Forward's input, unchanged since: it panics
// when x is another slice.
func (c *Conv2D[T]) Backward(x, w, dy, dx, dw, db []T) {
	s := c.s
	checkLen("Conv2D.Backward", "x", x, s.XLen())
	checkLen("Conv2D.Backward", "w", w, s.WLen())
	checkLen("Conv2D.Backward", "dy", dy, s.YLen())
	checkLen("Conv2D.Backward", "dw", dw, s.WLen())
	if dx != nil {
		checkLen("Conv2D.Backward", "dx", dx, s.XLen())
	}
	if db != nil {
		checkLen("Conv2D.Backward", "db", db, s.K)
	}
	path := c.path
	if path == pathOneDNN {
		if dx == nil || !c.dxIm2col {
			c.dnnl.backward(ptr(x), ptr(w), ptr(dy), ptr(dx), ptr(dw), ptr(db))
			return
		}
		path = pathIm2col
	}
	xs, ys, p := s.C*s.H*s.W, s.K*c.oh*c.ow, c.oh*c.ow
	if db != nil {
		for k := range s.K {
			var sum float64
			for n := range s.N {
				sum += float64(sumOf(dy[n*ys+k*p : n*ys+(k+1)*p]))
			}
			db[k] = T(sum)
		}
	}
	if path == pathShifted {
		c.packTaps(w)
	}
	ckk := s.C * s.KH * s.KW
	for n := range s.N {
		xn, dyn := x[n*xs:(n+1)*xs], dy[n*ys:(n+1)*ys]
		var dxn []T
		if dx != nil {
			dxn = dx[n*xs : (n+1)*xs]
		}
		var beta T // the weight gradient is overwritten by image 0, then summed
		if n > 0 {
			beta = 1
		}
		switch path {
		case pathDirect:
			// dw (K×C) += dy_n (K×HW) · x_nᵀ; dx_n = wᵀ·dy_n.
			Gemm(false, true, s.K, s.C, p, 1, dyn, p, xn, p, beta, dw, s.C)
			if dxn != nil {
				Gemm(true, false, s.C, p, s.K, 1, w, s.C, dyn, p, 0, dxn, p)
			}
		case pathIm2col:
			// dw (K×CKK) += dy_n (K×P) · colᵀ; dcol = wᵀ·dy_n, folded back into dx_n.
			c.im2col(xn)
			Gemm(false, true, s.K, ckk, p, 1, dyn, p, c.col, p, beta, dw, ckk)
			if dxn != nil {
				Gemm(true, false, ckk, p, s.K, 1, w, ckk, dyn, p, 0, c.col, p)
				c.col2im(dxn)
			}
		case pathShifted:
			c.backwardShifted(xn, dyn, dxn, beta)
		}
	}
	if path == pathShifted {
		taps := s.KH * s.KW
		for t := range taps {
			for k := range s.K {
				src := c.dwt[(t*s.K+k)*s.C:]
				for ch := range s.C {
					dw[(k*s.C+ch)*taps+t] = src[ch]
				}
			}
		}
	}
}

// backwardShifted runs one image backward through pathShifted. With dyp
// the output gradient in yp's layout (zero in the discarded columns), for
// each tap (i, j) reading phase plane P_ij:
// dW_ij (K×C) += dyp · P_ijᵀ and dP_ij += W_ijᵀ · dyp; the phase
// gradients are then merged back into dx.
func (c *Conv2D[T]) backwardShifted(xn, dyn, dxn []T, beta T) {
	s := c.s
	c.splitImage(xn)
	plane, ypStride, kc := c.hq*c.wq, c.oh*c.wq, s.K*s.C
	for k := range s.K {
		for r := range c.oh {
			copy(c.dyp[k*ypStride+r*c.wq:k*ypStride+r*c.wq+c.ow], dyn[(k*c.oh+r)*c.ow:(k*c.oh+r+1)*c.ow])
		}
	}
	for i := range s.KH {
		for j := range s.KW {
			t := i*s.KW + j
			off, _ := c.tap(i, j)
			Gemm(false, true, s.K, s.C, c.l, 1, c.dyp, ypStride, c.xp[off:], plane, beta, c.dwt[t*kc:(t+1)*kc], s.C)
		}
	}
	if dxn == nil {
		return
	}
	// The first tap of each phase writes columns [0, l) of its planes with
	// beta 0, the rest of those planes is zeroed here, and the other taps
	// add.
	for i := range min(c.sh, s.KH) {
		for j := range min(c.sw, s.KW) {
			off, _ := c.tap(i, j)
			for ch := range s.C {
				clear(c.dxp[off+ch*plane+c.l : off+(ch+1)*plane])
			}
		}
	}
	for i := range s.KH {
		for j := range s.KW {
			t := i*s.KW + j
			off, first := c.tap(i, j)
			var b T = 1
			if first {
				b = 0
			}
			Gemm(true, false, s.C, c.l, s.K, 1, c.wt[t*kc:(t+1)*kc], s.C, c.dyp, ypStride, b, c.dxp[off:], plane)
		}
	}
	phase := s.C * plane
	for ch := range s.C {
		for ih := range s.H {
			dst := dxn[(ch*s.H+ih)*s.W : (ch*s.H+ih+1)*s.W]
			off, used := c.phaseRow(ch, ih)
			if !used || c.sw > s.KW {
				clear(dst) // some of the row's positions lie in phases no tap reads
			}
			if !used {
				continue
			}
			for _, pc := range c.cols {
				src := c.dxp[off+pc.b*phase+pc.v0:]
				src = src[:pc.n]
				if c.sw == 1 {
					copy(dst, src)
					continue
				}
				for v, iw := 0, pc.iw0; v < len(src); v, iw = v+1, iw+c.sw {
					dst[iw] = src[v]
				}
			}
		}
	}
}

// colRange returns the output positions q in [0, n) whose input position
// q·stride + off lies in [0, size): q in [lo, hi).
func colRange(n, stride, off, size int) (lo, hi int) {
	// q·stride + off ≥ 0  ⇔  q ≥ ceil(−off/stride)
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	// q·stride + off ≤ size−1  ⇔  q ≤ floor((size−1−off)/stride)
	if size-1-off < 0 {
		return min(lo, n), min(lo, n)
	}
	hi = (size-1-off)/stride + 1
	lo, hi = min(lo, n), min(hi, n)
	return lo, max(lo, hi)
}

// im2col unfolds one image into c.col: row (ch, i, j), column (r, q)
// holds x[ch, r·sh+i−top, q·sw+j−left], or 0 in the padding.
func (c *Conv2D[T]) im2col(xn []T) {
	s := c.s
	p := c.oh * c.ow
	row := 0
	for ch := range s.C {
		img := xn[ch*s.H*s.W : (ch+1)*s.H*s.W]
		for i := range s.KH {
			for j := range s.KW {
				dst := c.col[row*p : (row+1)*p]
				row++
				qlo, qhi := colRange(c.ow, c.sw, j-s.Pads[1], s.W)
				for r := range c.oh {
					d := dst[r*c.ow : (r+1)*c.ow]
					h := r*c.sh + i - s.Pads[0]
					if h < 0 || h >= s.H || qlo == qhi {
						clear(d)
						continue
					}
					clear(d[:qlo])
					clear(d[qhi:])
					src := img[h*s.W:]
					w0 := qlo*c.sw + j - s.Pads[1]
					if c.sw == 1 {
						copy(d[qlo:qhi], src[w0:w0+qhi-qlo])
						continue
					}
					for q := qlo; q < qhi; q++ {
						d[q] = src[w0]
						w0 += c.sw
					}
				}
			}
		}
	}
}

// col2im folds c.col back into one image's gradient: dxn is overwritten
// with the sum, over every column entry, of the entry at the input
// position it was unfolded from.
func (c *Conv2D[T]) col2im(dxn []T) {
	s := c.s
	p := c.oh * c.ow
	clear(dxn)
	row := 0
	for ch := range s.C {
		img := dxn[ch*s.H*s.W : (ch+1)*s.H*s.W]
		for i := range s.KH {
			for j := range s.KW {
				src := c.col[row*p : (row+1)*p]
				row++
				qlo, qhi := colRange(c.ow, c.sw, j-s.Pads[1], s.W)
				if qlo == qhi {
					continue
				}
				for r := range c.oh {
					h := r*c.sh + i - s.Pads[0]
					if h < 0 || h >= s.H {
						continue
					}
					w0 := qlo*c.sw + j - s.Pads[1]
					d, sr := img[h*s.W+w0:], src[r*c.ow+qlo:r*c.ow+qhi]
					if c.sw == 1 {
						d = d[:len(sr)]
						for q, v := range sr {
							d[q] += v
						}
						continue
					}
					for q, v := range sr {
						d[q*c.sw] += v
					}
				}
			}
		}
	}
}
