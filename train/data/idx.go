package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// idx magic numbers: two zero bytes, the element type (0x08: unsigned byte)
// and the number of dimensions. Only unsigned-byte files are read: the type
// every MNIST-family file uses.
const (
	idxLabelsMagic = 0x00000801 // 2049: uint8 labels, N
	idxImagesMagic = 0x00000803 // 2051: uint8 images, N×rows×cols
)

// maxIDXBytes bounds the data an idx header may announce, so that a corrupt
// header is reported as such instead of exhausting memory.
const maxIDXBytes = 1 << 34

// idxPrealloc is the most the reader allocates up front; data beyond it is
// read into a growing buffer, so that a header announcing more data than the
// file holds costs no more than the file's real size.
const idxPrealloc = 1 << 26

// gzipEndMissing describes a gzip stream that holds all the data its idx
// header announces but ends before the stream's own end.
const gzipEndMissing = "truncated gzip stream: it ends after the data, before its trailer"

// IDXImages is the content of an idx images file (magic 2051): N images of
// Rows×Cols uint8 pixels, row-major, one image after another.
type IDXImages struct {
	N, Rows, Cols int
	Pixels        []uint8
}

// ReadIDXImages reads an idx images file (magic 2051), gzip-compressed or
// raw: the format is told by the gzip magic bytes, not the file name.
func ReadIDXImages(path string) (*IDXImages, error) {
	dims, pixels, err := readIDX(path, idxImagesMagic, "uint8 images, N×rows×cols")
	if err != nil {
		return nil, err
	}
	return &IDXImages{N: dims[0], Rows: dims[1], Cols: dims[2], Pixels: pixels}, nil
}

// ReadIDXLabels reads an idx labels file (magic 2049), gzip-compressed or
// raw, and returns one label a byte.
func ReadIDXLabels(path string) ([]uint8, error) {
	_, labels, err := readIDX(path, idxLabelsMagic, "uint8 labels, N")
	return labels, err
}

// readIDX reads an idx file whose magic number must be magic (what describes
// it in errors), checking that it holds exactly the data its header
// announces, and returns the dimensions and the data.
func readIDX(path string, magic uint32, what string) (dims []int, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()

	br := bufio.NewReader(f)
	var r io.Reader = br
	compressed := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: bad gzip stream: %w", path, err)
		}
		r, compressed = zr, true
	}

	header := make([]byte, 4+4*int(magic&0xff)) // magic, then one uint32 a dimension
	if n, err := io.ReadFull(r, header[:4]); err != nil {
		return nil, nil, idxReadError(path, compressed, err,
			fmt.Sprintf("truncated idx header: expected %d bytes, found %d", len(header), n))
	}
	if got := binary.BigEndian.Uint32(header); got != magic {
		return nil, nil, fmt.Errorf("%s: bad magic number %d (0x%08x): expected %d (0x%08x, idx %s)",
			path, got, got, magic, magic, what)
	}
	if n, err := io.ReadFull(r, header[4:]); err != nil {
		return nil, nil, idxReadError(path, compressed, err,
			fmt.Sprintf("truncated idx header: expected %d bytes, found %d", len(header), 4+n))
	}
	dims = make([]int, len(header)/4-1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(header[4+4*i:]))
	}
	size := 1
	for i, d := range dims {
		if d == 0 {
			return nil, nil, fmt.Errorf("%s: header dimensions %s: dimension %d is 0", path, dimsString(dims), i)
		}
		if d > maxIDXBytes/size {
			return nil, nil, fmt.Errorf("%s: header announces %s bytes of data, more than the %d accepted",
				path, dimsString(dims), maxIDXBytes)
		}
		size *= d
	}

	buf := bytes.NewBuffer(make([]byte, 0, min(size, idxPrealloc)))
	n, err := buf.ReadFrom(io.LimitReader(r, int64(size)))
	if int(n) < size {
		return nil, nil, idxReadError(path, compressed, err,
			fmt.Sprintf("truncated data: header says %s = %d bytes, found %d", dimsString(dims), size, n))
	}
	if err != nil { // all the data, then an error: the gzip stream's end is missing or damaged
		return nil, nil, idxReadError(path, compressed, err, gzipEndMissing)
	}
	// Nothing may follow; for gzip, reading to the end also checks the CRC.
	var extra [1]byte
	if k, err := io.ReadFull(r, extra[:]); k > 0 {
		return nil, nil, fmt.Errorf("%s: unexpected data after the %s = %d bytes the header announces",
			path, dimsString(dims), size)
	} else if err != io.EOF {
		return nil, nil, idxReadError(path, compressed, err, gzipEndMissing)
	}
	return dims, buf.Bytes(), nil
}

// idxReadError describes a read that failed or came short: if the data
// ended early, short says what was missing; any other error is passed on
// with the file's name.
func idxReadError(path string, compressed bool, err error, short string) error {
	switch {
	case err == nil || err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s: %s", path, short)
	case compressed:
		return fmt.Errorf("%s: bad gzip stream: %w", path, err)
	default:
		return fmt.Errorf("%s: %w", path, err)
	}
}

// dimsString writes dimensions as 60000×28×28.
func dimsString(dims []int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}
