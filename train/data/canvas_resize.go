package data

import "image"

// tap is where one output position of a bilinear resize reads along one
// axis: source positions lo and hi, the weight of hi in 256ths.
type tap struct{ lo, hi, frac int }

// bilinearTaps maps out output positions onto in source positions with
// half-pixel centres: output o samples source coordinate
// (o + ½)·in/out − ½, clamped to the edge pixels. Coordinates are in 8-bit
// fixed point, so the result is exact integer arithmetic.
func bilinearTaps(in, out int) []tap {
	taps := make([]tap, out)
	for o := range taps {
		pos := (2*o+1)*in*256/(2*out) - 128 // source coordinate × 256
		switch {
		case pos <= 0:
			taps[o] = tap{0, 0, 0}
		case pos >= (in-1)*256:
			taps[o] = tap{in - 1, in - 1, 0}
		default:
			taps[o] = tap{pos >> 8, pos>>8 + 1, pos & 255}
		}
	}
	return taps
}

// resizeBilinear resizes the sh×sw bytes of src to the dh×dw bytes of dst
// (bilinear, half-pixel centres, rounded to nearest) and returns the
// bounding box of dst's pixels of CanvasInk or more (empty when none is).
// It does not antialias: canvases shrink digits to 0.7 at the least, where
// bilinear sampling still reads every source pixel.
func resizeBilinear(src []uint8, sh, sw int, dst []uint8, dh, dw int) image.Rectangle {
	ty, tx := bilinearTaps(sh, dh), bilinearTaps(sw, dw)
	ink := image.Rectangle{Min: image.Pt(dw, dh)} // inverted, and grown to cover each inked pixel
	for y, vy := range ty {
		top, bottom := src[vy.lo*sw:(vy.lo+1)*sw], src[vy.hi*sw:(vy.hi+1)*sw]
		row := dst[y*dw : (y+1)*dw]
		for x, vx := range tx {
			t := int(top[vx.lo])*(256-vx.frac) + int(top[vx.hi])*vx.frac
			b := int(bottom[vx.lo])*(256-vx.frac) + int(bottom[vx.hi])*vx.frac
			v := (t*(256-vy.frac) + b*vy.frac + 1<<15) >> 16
			row[x] = uint8(v)
			if v >= CanvasInk {
				ink.Min.X, ink.Max.X = min(ink.Min.X, x), max(ink.Max.X, x+1)
				ink.Min.Y, ink.Max.Y = min(ink.Min.Y, y), max(ink.Max.Y, y+1)
			}
		}
	}
	if ink.Empty() {
		return image.Rectangle{}
	}
	return ink
}
