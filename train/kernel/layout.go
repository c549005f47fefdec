package kernel

// The engine keeps float32 activations channels-last (NHWC), the layout
// oneDNN's convolutions run on without reordering; ops that only know
// NCHW get their input through these transposes.

// layoutTile is the side of the square tiles the transposes copy, so
// that both the rows read and the rows written stay in cache.
const layoutTile = 32

// ToChannelsLast copies x, N×C×HW (NCHW), into y as N×HW×C (NHWC).
func ToChannelsLast[T Float](x, y []T, n, c, hw int) {
	checkLen("ToChannelsLast", "x", x, n*c*hw)
	checkLen("ToChannelsLast", "y", y, n*c*hw)
	for i := range n {
		transpose(x[i*c*hw:(i+1)*c*hw], y[i*c*hw:(i+1)*c*hw], c, hw)
	}
}

// ToChannelsFirst copies x, N×HW×C (NHWC), into y as N×C×HW (NCHW).
func ToChannelsFirst[T Float](x, y []T, n, c, hw int) {
	checkLen("ToChannelsFirst", "x", x, n*c*hw)
	checkLen("ToChannelsFirst", "y", y, n*c*hw)
	for i := range n {
		transpose(x[i*c*hw:(i+1)*c*hw], y[i*c*hw:(i+1)*c*hw], hw, c)
	}
}

// transpose sets dst (cols×rows) to the transpose of src (rows×cols).
func transpose[T Float](src, dst []T, rows, cols int) {
	for r0 := 0; r0 < rows; r0 += layoutTile {
		r1 := min(r0+layoutTile, rows)
		for c0 := 0; c0 < cols; c0 += layoutTile {
			c1 := min(c0+layoutTile, cols)
			for r := r0; r < r1; r++ {
				row := src[r*cols : (r+1)*cols]
				for col := c0; col < c1; col++ {
					dst[col*rows+r] = row[col]
				}
			}
		}
	}
}
