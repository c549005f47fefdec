package kernel

import (
	"fmt"
	"math"
)

// CoordMode is ONNX Resize's coordinate_transformation_mode: where output
// position o along an axis samples the input, for an input of length in,
// a scale s and a resized length L = in·s.
type CoordMode int

const (
	// HalfPixel samples (o+½)/s − ½, pixel centres aligned: PyTorch's
	// interpolate with align_corners=False, the FCN default.
	HalfPixel CoordMode = iota
	// PytorchHalfPixel is HalfPixel, except that an output of length 1
	// samples position 0.
	PytorchHalfPixel
	// AlignCorners samples o·(in−1)/(L−1), corner pixels aligned (0 when L
	// is 1): PyTorch's align_corners=True.
	AlignCorners
	// Asymmetric samples o/s.
	Asymmetric
)

var coordModeNames = [...]string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"}

func (m CoordMode) String() string {
	if m >= 0 && int(m) < len(coordModeNames) {
		return coordModeNames[m]
	}
	return fmt.Sprintf("CoordMode(%d)", int(m))
}

// ParseCoordMode reads an ONNX coordinate_transformation_mode; the modes
// the kernels do not implement (tf_crop_and_resize, half_pixel_symmetric)
// are errors.
func ParseCoordMode(s string) (CoordMode, error) {
	for i, name := range coordModeNames {
		if s == name {
			return CoordMode(i), nil
		}
	}
	return 0, fmt.Errorf("resize: coordinate_transformation_mode %q is not supported (supported: half_pixel, pytorch_half_pixel, align_corners, asymmetric)", s)
}

// ResizeShape is the geometry of a 2-D resize of an N×C×H×W tensor to
// N×C×OutH×OutW.
type ResizeShape struct {
	N, C, H, W int // input
	OutH, OutW int // output
	// ScaleH and ScaleW are the scales of an ONNX Resize given scales,
	// whose output length is then floor(in·scale) and whose coordinate
	// transform divides by the scale as given, not by out/in. Leave them
	// 0 for a Resize given sizes: the scale is then out/in.
	ScaleH, ScaleW float64
	Mode           CoordMode
}

// XLen is the element count of the input.
func (s ResizeShape) XLen() int { return s.N * s.C * s.H * s.W }

// YLen is the element count of the output.
func (s ResizeShape) YLen() int { return s.N * s.C * s.OutH * s.OutW }

func (s ResizeShape) validate() error {
	if s.N < 1 || s.C < 1 || s.H < 1 || s.W < 1 || s.OutH < 1 || s.OutW < 1 {
		return fmt.Errorf("resize: expected positive sizes, found input %d×%d×%d×%d and output %d×%d", s.N, s.C, s.H, s.W, s.OutH, s.OutW)
	}
	if s.Mode < 0 || int(s.Mode) >= len(coordModeNames) {
		return fmt.Errorf("resize: unknown coordinate mode %d", int(s.Mode))
	}
	if err := checkScale("height", s.H, s.OutH, s.ScaleH); err != nil {
		return err
	}
	return checkScale("width", s.W, s.OutW, s.ScaleW)
}

// checkScale checks one axis's scale: 0, or positive with the output
// length ONNX gives it, floor(in·scale).
func checkScale(axis string, in, out int, scale float64) error {
	switch {
	case scale == 0:
	case !(scale > 0) || math.IsInf(scale, 1):
		return fmt.Errorf("resize: the %s scale must be positive (or 0 for out/in), found %g", axis, scale)
	case int(math.Floor(float64(in)*scale)) != out:
		return fmt.Errorf("resize: output %s %d does not match floor(%d·%g) = %g", axis, out, in, scale, math.Floor(float64(in)*scale))
	}
	return nil
}

// linearTap is where one output position reads the input along one axis:
// w0·in[i0] + w1·in[i1].
type linearTap[T Float] struct {
	i0, i1 int
	w0, w1 T
}

// linearTaps computes the taps of each output position along one axis,
// following ONNX's Resize (mode "linear"): the sampled position x is split
// into its two neighbours floor(x) and floor(x)+1 with weights 1−r and r
// (r = x − floor(x)), each neighbour clamped into [0, in−1], so that
// positions beyond the edges take the edge pixel.
func linearTaps[T Float](in, out int, scale float64, mode CoordMode) []linearTap[T] {
	resized := float64(in) * scale
	if scale == 0 {
		scale, resized = float64(out)/float64(in), float64(out)
	}
	taps := make([]linearTap[T], out)
	for o := range taps {
		var x float64
		switch mode {
		case HalfPixel:
			x = (float64(o)+0.5)/scale - 0.5
		case PytorchHalfPixel:
			if resized > 1 {
				x = (float64(o)+0.5)/scale - 0.5
			}
		case AlignCorners:
			if resized > 1 {
				x = float64(o) * float64(in-1) / (resized - 1)
			}
		case Asymmetric:
			x = float64(o) / scale
		}
		lo := math.Floor(x)
		r := x - lo
		i0 := int(lo)
		taps[o] = linearTap[T]{i0: min(max(i0, 0), in-1), i1: min(max(i0+1, 0), in-1), w0: T(1 - r), w1: T(r)}
	}
	return taps
}

// Bilinear is ONNX's Resize in mode "linear" on the two spatial axes of an
// NCHW tensor (scales 1 on N and C), for one shape. Each output pixel is
// the bilinear blend of the four input pixels around its sampled
// position, the weights depending only on the shape, so the resize is a
// fixed linear map R and its backward is the adjoint Rᵀ: each output
// gradient is scattered back to the same four pixels with the same
// weights. The row scratch buffer makes a Bilinear unsafe for concurrent
// use.
type Bilinear[T Float] struct {
	s            ResizeShape
	hTaps, wTaps []linearTap[T]
	row          []T // one input-width row: the vertical blend, or its gradient
}

// NewBilinear validates the shape and precomputes the taps.
func NewBilinear[T Float](s ResizeShape) (*Bilinear[T], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &Bilinear[T]{s: s,
		hTaps: linearTaps[T](s.H, s.OutH, s.ScaleH, s.Mode),
		wTaps: linearTaps[T](s.W, s.OutW, s.ScaleW, s.Mode),
		row:   make([]T, s.W)}, nil
}

// Forward sets y = R·x: each output row is blended from its two input
// rows, then sampled along the width.
func (b *Bilinear[T]) Forward(x, y []T) {
	s := b.s
	checkLen("Bilinear.Forward", "x", x, s.XLen())
	checkLen("Bilinear.Forward", "y", y, s.YLen())
	in, out := s.H*s.W, s.OutH*s.OutW
	row := b.row
	for p := range s.N * s.C {
		xp, yp := x[p*in:(p+1)*in], y[p*out:(p+1)*out]
		for oh, th := range b.hTaps {
			r0, r1 := xp[th.i0*s.W:(th.i0+1)*s.W], xp[th.i1*s.W:(th.i1+1)*s.W]
			for w := range row {
				row[w] = th.w0*r0[w] + th.w1*r1[w]
			}
			yr := yp[oh*s.OutW : (oh+1)*s.OutW]
			for ow, tw := range b.wTaps {
				yr[ow] = tw.w0*row[tw.i0] + tw.w1*row[tw.i1]
			}
		}
	}
}

// Backward sets dx = Rᵀ·dy (dx is overwritten).
func (b *Bilinear[T]) Backward(dy, dx []T) {
	s := b.s
	checkLen("Bilinear.Backward", "dy", dy, s.YLen())
	checkLen("Bilinear.Backward", "dx", dx, s.XLen())
	clear(dx)
	in, out := s.H*s.W, s.OutH*s.OutW
	row := b.row
	for p := range s.N * s.C {
		dxp, dyp := dx[p*in:(p+1)*in], dy[p*out:(p+1)*out]
		for oh, th := range b.hTaps {
			clear(row)
			for ow, tw := range b.wTaps {
				g := dyp[oh*s.OutW+ow]
				row[tw.i0] += tw.w0 * g
				row[tw.i1] += tw.w1 * g
			}
			d0, d1 := dxp[th.i0*s.W:(th.i0+1)*s.W], dxp[th.i1*s.W:(th.i1+1)*s.W]
			for w, g := range row {
				d0[w] += th.w0 * g
			}
			for w, g := range row {
				d1[w] += th.w1 * g
			}
		}
	}
}
