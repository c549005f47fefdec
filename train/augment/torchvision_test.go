package augment

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// torchvisionScript applies torchvision 0.14's functions to the float32
// C×H×W image in argv[1] and writes their outputs, flattened and
// concatenated in this order, to argv[5]: resized_crop of two boxes (a
// reduction and an enlargement) to 224×224, Resize(256) + CenterCrop(224),
// then adjust_brightness(1.3), adjust_contrast(0.7) and
// adjust_saturation(1.4) on [0, 1] values, scaled back to [0, 255].
// Geometry runs on PIL images of mode F, one a channel, so PIL's float
// resampling is compared without uint8 rounding.
const torchvisionScript = `
import sys
import numpy as np, torch
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
c, h, w = map(int, sys.argv[2:5])
x = np.fromfile(sys.argv[1], dtype='<f4').reshape(c, h, w)
def planes(fn):
    return [np.asarray(fn(Image.fromarray(x[k], mode='F')), dtype=np.float32) for k in range(c)]
bil = InterpolationMode.BILINEAR
out = []
out += planes(lambda im: F.resized_crop(im, 50, 37, 200, 300, [224, 224], bil))
out += planes(lambda im: F.resized_crop(im, 20, 10, 80, 100, [224, 224], bil))
out += planes(T.Compose([T.Resize(256, interpolation=bil), T.CenterCrop(224)]))
t = torch.from_numpy(x / 255)
for y in (F.adjust_brightness(t, 1.3), F.adjust_contrast(t, 0.7), F.adjust_saturation(t, 1.4)):
    out.append((y * 255).numpy())
np.concatenate([o.ravel() for o in out]).astype('<f4').tofile(sys.argv[5])
`

// TestAgainstTorchvision checks the resampling, the validation geometry and
// the colour operations against torchvision (Debian python3-torchvision)
// on real photographs: within float rounding (0.001 of 255) for geometry
// and brightness; within 0.03 for contrast and saturation, where
// torchvision weighs red 0.2989 and this package 0.299 (seen here: up to
// 5e-5 and 0.01).
func TestAgainstTorchvision(t *testing.T) {
	python := testenv.RequirePython(t, "numpy", "PIL", "torch", "torchvision")
	val, err := NewVal(ValOptions{Size: 224, Channels: 3, CropRatio: DefaultCropRatio})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []photo{photos[1], photos[4]} { // landscape and portrait
		t.Run(filepath.Base(p.path), func(t *testing.T) {
			img := loadPhoto(t, p)
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
			if err := os.WriteFile(in, float32Bytes(img.Pix), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(python, "-c", torchvisionScript, in,
				fmt.Sprint(img.C), fmt.Sprint(img.H), fmt.Sprint(img.W), out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("torchvision: %v\n%s", err, msg)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			ref := make([]float32, len(raw)/4)
			for i := range ref {
				ref[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}

			valOut := make([]float32, 3*224*224)
			if err := val.Apply(clone(img), nil, valOut); err != nil {
				t.Fatal(err)
			}
			colour := func(adjust func(*Image, float32), f float32) []float32 {
				c := clone(img)
				adjust(c, f)
				return c.Pix
			}
			cases := []struct {
				name string
				got  []float32
				tol  float64
			}{
				{"resized_crop reducing", resizeBox(img, image.Rect(37, 50, 337, 250), 224, 224).Pix, 1e-3},
				{"resized_crop enlarging", resizeBox(img, image.Rect(10, 20, 110, 100), 224, 224).Pix, 1e-3},
				{"Resize(256) + CenterCrop(224)", valOut, 1e-3},
				{"adjust_brightness", colour(adjustBrightness, 1.3), 1e-3},
				{"adjust_contrast", colour(adjustContrast, 0.7), 0.03},
				{"adjust_saturation", colour(adjustSaturation, 1.4), 0.03},
			}
			for _, tc := range cases {
				if len(ref) < len(tc.got) {
					t.Fatalf("torchvision wrote %d values too few", len(tc.got)-len(ref))
				}
				var worst float64
				for i, v := range tc.got {
					worst = max(worst, math.Abs(float64(v-ref[i])))
				}
				if worst > tc.tol {
					t.Errorf("%s: differs from torchvision by up to %g, expected at most %g", tc.name, worst, tc.tol)
				}
				ref = ref[len(tc.got):]
			}
			if len(ref) != 0 {
				t.Errorf("torchvision wrote %d values more than compared", len(ref))
			}
		})
	}
}

// float32Bytes returns v as little-endian bytes.
func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
