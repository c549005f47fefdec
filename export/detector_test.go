package export_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
)

// headModel is a model whose output "head" is its input, [N, classes+4,
// h, w]: a stand-in CenterNet head whose values a test sets directly.
func headModel(t *testing.T, classes, h, w int64) *graph.Model {
	t.Helper()
	b := graph.NewBuilder("head", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: classes + 4}, {Size: h}, {Size: w}})
	b.Output(b.Node("Identity", "head", []string{x}), "head")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeInORT appends the decoder to a head model, checks the file with
// python3-onnx's full checker, and runs it in ONNX Runtime on head.
func decodeInORT(t *testing.T, d export.Decode, h, w int64, head []float32, batch int64) (boxes, scores []float32, classes []int64) {
	t.Helper()
	m := headModel(t, int64(d.Classes), h, w)
	d.Head = "head"
	if err := export.AppendDetectorDecode(m, d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "detector.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	checkONNX(t, path)
	s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	for _, o := range s.Outputs() {
		names = append(names, o.Name+":"+o.ElementType)
	}
	if want := []string{"boxes:float", "scores:float", "classes:int64"}; !slices.Equal(names, want) {
		t.Fatalf("outputs %v, want %v", names, want)
	}
	outs, err := s.Run(ort.Tensor{Shape: []int64{batch, int64(d.Classes) + 4, h, w}, Data: head})
	if err != nil {
		t.Fatal(err)
	}
	return outs[0].Data, outs[1].Data, outs[2].Ints
}

// TestDetectorDecodeByHand: two objects placed on an 8×8 head of two
// classes at stride 4, decoded in ONNX Runtime, give the boxes worked by
// hand; the third pick is the first position of the flat background that
// is its own 3×3 maximum, which shows TopK's order among equal scores.
func TestDetectorDecodeByHand(t *testing.T) {
	requireORT(t)
	const classes, h, w = 2, 8, 8
	head := make([]float32, (classes+4)*h*w)
	at := func(c, y, x int) *float32 { return &head[(c*h+y)*w+x] }
	for i := range classes * h * w {
		head[i] = -10
	}
	// Class 1 at column 3, row 5: score σ(2), 2.5 × 4 cells, centre
	// (3.25, 5.5): corners ((3.25 ∓ 1.25)·4, (5.5 ∓ 2)·4) = (8, 14, 18, 30).
	*at(1, 5, 3), *at(2, 5, 3), *at(3, 5, 3), *at(4, 5, 3), *at(5, 5, 3) = 2, 2.5, 4, 0.25, 0.5
	// Class 0 at the origin: score σ(0) = 0.5, 1 × 1 cell: (−2, −2, 2, 2).
	*at(0, 0, 0), *at(2, 0, 0), *at(3, 0, 0) = 0, 1, 1
	// Third: (0, 0, 1) neighbours the origin's peak, so (0, 0, 2) is the
	// first flat position that is its own maximum: score σ(−10), size 0.
	boxes, scores, got := decodeInORT(t, export.Decode{Classes: classes, Stride: 4, TopK: 3}, h, w, head, 1)
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	wantBoxes := []float64{8, 14, 18, 30, -2, -2, 2, 2, 8, 0, 8, 0}
	wantScores := []float64{sigmoid(2), 0.5, sigmoid(-10)}
	if !slices.Equal(got, []int64{1, 0, 0}) {
		t.Errorf("classes %v, want [1 0 0]", got)
	}
	for i, v := range wantBoxes {
		if math.Abs(float64(boxes[i])-v) > 1e-5 {
			t.Errorf("boxes %v, want %v", boxes, wantBoxes)
			break
		}
	}
	for i, v := range wantScores {
		if math.Abs(float64(scores[i])-v) > 1e-6*max(1, v) {
			t.Errorf("scores %v, want %v", scores, wantScores)
			break
		}
	}
}

// TestDetectorDecodeRefusals: heads that cannot be decoded are refused in
// one line naming what was expected.
func TestDetectorDecodeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    export.Decode
		want string
	}{
		{"channels", export.Decode{Head: "head", Classes: 3, Stride: 4}, "expected shape [N, 7, h, w]"},
		{"top-k", export.Decode{Head: "head", Classes: 2, Stride: 4, TopK: 200}, "top-k 200: expected at most the 128"},
		{"stride", export.Decode{Head: "head", Classes: 2}, "a positive stride"},
		{"names", export.Decode{Head: "head", Classes: 2, Stride: 4, ClassNames: []string{"a"}}, "1 class names for 2 classes"},
		{"no head", export.Decode{Head: "nothing", Classes: 2, Stride: 4}, `head "nothing"`},
	} {
		err := export.AppendDetectorDecode(headModel(t, 2, 8, 8), tc.d)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", tc.name, err, tc.want)
		}
	}
}

// TestDetectorDecodeMatchesGo: on random heads of three classes, two
// images at a time, the graph's decoding in ONNX Runtime gives the boxes,
// scores and classes of the Go decoder (detection.Decode), which finds
// peaks and ranks them in loops of its own.
func TestDetectorDecodeMatchesGo(t *testing.T) {
	requireORT(t)
	const classes, h, w, stride, k, batch = 3, 12, 10, 4, 40, 2
	rng := rand.New(rand.NewPCG(5, 16))
	head := make([]float32, batch*(classes+4)*h*w)
	for i := range head {
		// Whole numbers tie often: peaks on plateaus and equal scores.
		head[i] = float32(rng.IntN(9) - 6)
	}
	boxes, scores, got := decodeInORT(t, export.Decode{Classes: classes, Stride: stride, TopK: k}, h, w, head, batch)
	plane, per := h*w, (classes+4)*h*w
	for n := range batch {
		img := head[n*per : (n+1)*per]
		want := detection.Decode(img[:classes*plane], img[classes*plane:(classes+2)*plane], img[(classes+2)*plane:], classes, h, w, stride, k)
		for i, d := range want {
			at := n*k + i
			b := boxes[4*at : 4*at+4]
			if got[at] != int64(d.Class) || math.Abs(float64(scores[at]-d.Score)) > 1e-6 ||
				math.Abs(float64(b[0]-d.X1)) > 1e-5 || math.Abs(float64(b[1]-d.Y1)) > 1e-5 ||
				math.Abs(float64(b[2]-d.X2)) > 1e-5 || math.Abs(float64(b[3]-d.Y2)) > 1e-5 {
				t.Fatalf("image %d, pick %d: ONNX Runtime class %d score %g box %v; Go %+v", n, i, got[at], scores[at], b, d)
			}
		}
	}
}
