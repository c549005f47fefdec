package augment

import (
	"image"
	"math"
)

// taps are the weights with which each output position of one axis sums
// consecutive input positions: output o reads first[o], first[o]+1, …,
// first[o]+count[o]−1 with weights w[o·size : o·size+count[o]].
type taps struct {
	first, count []int
	w            []float32
	size         int // the most taps any output has
}

// bilinearTaps computes the taps that resample the input positions
// [lo, hi) to out positions with the triangle (bilinear) filter, widened by
// the reduction factor when shrinking so that every input pixel contributes
// (antialiasing). This is PIL's resampling (precompute_coeffs in
// libImaging/Resample.c), which torchvision's Resize and RandomResizedCrop
// call on PIL images: sample centres at half-pixel positions, a support of
// one input pixel times max(1, in/out), weights normalised to sum to 1 and
// cut at the edges of [lo, hi). When enlarging it is plain bilinear
// interpolation with half-pixel centres (OpenCV's INTER_LINEAR, ONNX's
// Resize with half_pixel), clamped at the edges.
func bilinearTaps(lo, hi, out int) taps {
	scale := float64(hi-lo) / float64(out)
	fscale := max(scale, 1)
	support := fscale // the triangle's support, 1, widened
	size := int(math.Ceil(support))*2 + 1
	t := taps{first: make([]int, out), count: make([]int, out), w: make([]float32, out*size), size: size}
	ws := make([]float64, size)
	for o := range out {
		centre := float64(lo) + (float64(o)+0.5)*scale
		first := max(int(math.Floor(centre-support+0.5)), lo)
		last := min(int(math.Floor(centre+support+0.5)), hi)
		var sum float64
		n := 0
		for i := first; i < last && n < size; i++ {
			v := 1 - math.Abs((float64(i)-centre+0.5)/fscale)
			ws[n] = max(v, 0)
			sum += ws[n]
			n++
		}
		for k := range n {
			t.w[o*size+k] = float32(ws[k] / sum)
		}
		t.first[o], t.count[o] = first, n
	}
	return t
}

// resizeBox returns the part of src inside box resampled to outH×outW with
// [bilinearTaps], crop then resize as torchvision's resized_crop does (the
// filter reads no pixel outside box). It filters columns first, then rows:
// the column pass, whose inner loop runs along contiguous rows, takes the
// larger input; PIL's opposite order gives the same values up to float
// rounding, since the two passes commute.
func resizeBox(src *Image, box image.Rectangle, outH, outW int) *Image {
	tx := bilinearTaps(box.Min.X, box.Max.X, outW)
	ty := bilinearTaps(box.Min.Y, box.Max.Y, outH)
	bw := box.Dx()
	tmp := make([]float32, outH*bw) // one channel's box, filtered along columns
	dst := NewImage(src.C, outH, outW)
	for k := range src.C {
		plane := src.Plane(k)
		clear(tmp)
		for o := range outH {
			out := tmp[o*bw : (o+1)*bw]
			ws := ty.w[o*ty.size : o*ty.size+ty.count[o]]
			for i, w := range ws {
				in := plane[(ty.first[o]+i)*src.W+box.Min.X:]
				in = in[:len(out)]
				for x, v := range in {
					out[x] += v * w
				}
			}
		}
		dplane := dst.Plane(k)
		for y := range outH {
			row := tmp[y*bw : (y+1)*bw]
			out := dplane[y*outW : (y+1)*outW]
			for o := range out {
				ws := tx.w[o*tx.size : o*tx.size+tx.count[o]]
				in := row[tx.first[o]-box.Min.X:]
				in = in[:len(ws)]
				var s float32
				for i, w := range ws {
					s += in[i] * w
				}
				out[o] = s
			}
		}
	}
	return dst
}
