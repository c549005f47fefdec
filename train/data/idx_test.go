package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an idx file: magic, dimensions, data, all as given, so
// that tests can write malformed files too.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		out = binary.BigEndian.AppendUint32(out, d)
	}
	return append(out, data...)
}

// gzipped compresses content as one gzip member.
func gzipped(t testing.TB, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ramp returns n bytes 0, 1, 2, … wrapping at 256.
func ramp(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestIDXRoundTrip(t *testing.T) {
	pixels := ramp(3 * 4 * 5)
	labels := []byte{2, 0, 1}
	for _, tc := range []struct {
		name string
		gzip bool
	}{
		{"raw", false},
		{"gzip", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := idxBytes(idxImagesMagic, []uint32{3, 4, 5}, pixels)
			lab := idxBytes(idxLabelsMagic, []uint32{3}, labels)
			if tc.gzip {
				img, lab = gzipped(t, img), gzipped(t, lab)
			}
			// Names without .gz: the format is told by content.
			images, err := ReadIDXImages(writeFile(t, dir, "images", img))
			if err != nil {
				t.Fatal(err)
			}
			if images.N != 3 || images.Rows != 4 || images.Cols != 5 || !bytes.Equal(images.Pixels, pixels) {
				t.Errorf("images: got %d×%d×%d %v, want 3×4×5 %v", images.N, images.Rows, images.Cols, images.Pixels, pixels)
			}
			got, err := ReadIDXLabels(writeFile(t, dir, "labels", lab))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, labels) {
				t.Errorf("labels: got %v, want %v", got, labels)
			}
		})
	}
}

func TestIDXMalformed(t *testing.T) {
	good := idxBytes(idxImagesMagic, []uint32{2, 3, 3}, ramp(18))
	badCRC := gzipped(t, good)
	badCRC[len(badCRC)-8] ^= 0xff // first byte of the CRC-32 in the trailer
	gz := gzipped(t, good)

	for _, tc := range []struct {
		name    string
		content []byte
		labels  bool // read as labels, not images
		want    []string
	}{
		{"empty", nil, false, []string{"truncated idx header: expected 16 bytes, found 0"}},
		{"short header", good[:10], false, []string{"truncated idx header: expected 16 bytes, found 10"}},
		{"short header gzip", gzipped(t, good[:10]), false, []string{"truncated idx header: expected 16 bytes, found 10"}},
		{"labels as images", idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 2}), false,
			[]string{"bad magic number 2049 (0x00000801)", "expected 2051 (0x00000803, idx uint8 images"}},
		{"images as labels", good, true,
			[]string{"bad magic number 2051 (0x00000803)", "expected 2049 (0x00000801, idx uint8 labels"}},
		{"float32 images", idxBytes(0x00000d03, []uint32{2, 3, 3}, ramp(72)), false,
			[]string{"bad magic number 3331 (0x00000d03)", "expected 2051"}},
		{"zero rows", idxBytes(idxImagesMagic, []uint32{2, 0, 3}, nil), false, []string{"header dimensions 2×0×3: dimension 1 is 0"}},
		{"huge header", idxBytes(idxImagesMagic, []uint32{1 << 31, 1 << 20, 1 << 10}, ramp(18)), false,
			[]string{"header announces 2147483648×1048576×1024 bytes of data, more than the 17179869184 accepted"}},
		{"truncated data", good[:len(good)-1], false,
			[]string{"truncated data: header says 2×3×3 = 18 bytes, found 17"}},
		{"truncated data gzip", gzipped(t, good[:len(good)-1]), false,
			[]string{"truncated data: header says 2×3×3 = 18 bytes, found 17"}},
		{"truncated gzip stream", gz[:len(gz)/2], false, []string{"truncated data: header says 2×3×3 = 18 bytes"}},
		{"missing gzip trailer", gz[:len(gz)-8], false, []string{"truncated gzip stream: it ends after the data"}},
		{"trailing data", append(slices.Clone(good), 0), false,
			[]string{"unexpected data after the 2×3×3 = 18 bytes the header announces"}},
		{"trailing data gzip", gzipped(t, append(slices.Clone(good), 0)), false,
			[]string{"unexpected data after the 2×3×3 = 18 bytes"}},
		{"labels count short", idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2}), true,
			[]string{"truncated data: header says 3 = 3 bytes, found 2"}},
		{"bad gzip checksum", badCRC, false, []string{"bad gzip stream", "invalid checksum"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "file", tc.content)
			var err error
			if tc.labels {
				_, err = ReadIDXLabels(path)
			} else {
				_, err = ReadIDXImages(path)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append([]string{path + ": "}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestIDXMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent")
	if _, err := ReadIDXImages(path); err == nil || !os.IsNotExist(err) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want a not-exist error naming %s", err, path)
	}
}
