package graph

import (
	"bytes"
	"errors"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// The fuzzers below feed arbitrary bytes to the loader and everything that
// reads a loaded model before it is known to be valid. Every stage takes
// models from files made elsewhere, so hostile or damaged bytes must end in
// an error, never a panic, a hang or an allocation sized by a declared
// shape. Their corpus under testdata/fuzz holds small ResNets built by
// package models, shrunk torchvision exports and inputs that crashed the
// package before its fixes (regress-*); tweaks/fuzz_test.go's
// TestWriteFuzzSeeds regenerates those (BOT_ONNX_WRITE_FUZZ_SEEDS=1).
// Files named by a hash are inputs the fuzzer found, kept as they were.

// addFuzzSeeds adds the in-code seeds: smallNet, which has every operator
// of a ResNet, and two Resize models, one with float scales and one with
// int64 sizes on some axes, so the mutator also starts from the constant
// inputs shape inference reads.
func addFuzzSeeds(f *testing.F) {
	for _, seed := range []*Model{
		smallNet(f),
		resizeModel(13, []float32{1, 1, 2, 2}, nil),
		resizeModel(18, nil, []int64{16, 16}, AttrInts("axes", 2, 3), AttrString("keep_aspect_ratio_policy", "not_larger")),
	} {
		data, err := seed.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzLoad: Decode returns a model or an error for any bytes, and a
// decoded model encodes to bytes that decode to an equal model and encode
// to the same bytes, as Save and Load rely on.
func FuzzLoad(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a model with error %v", err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of an encoded model: %v", err)
		}
		if !Equal(m, back) {
			t.Fatal("Encode → Decode changed the model")
		}
		again, err := back.Encode()
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(enc, again) {
			t.Fatal("Encode is not deterministic across a round trip")
		}
	})
}

// FuzzValidate: whatever decodes goes through validation, shape inference,
// topological sorting, pruning, counting and initializer access; each
// either works or returns an error. A model Validate accepts must also be
// sorted already, stay valid through Clean, and have readable initializers
// of the types the project reads.
func FuzzValidate(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		verr := Validate(m)
		var ve *ValidationError
		if verr != nil && (!errors.As(verr, &ve) || len(ve.Problems) == 0 || verr.Error() == "") {
			t.Fatalf("Validate returned %T %v, want a *ValidationError with problems", verr, verr)
		}
		g := m.GetGraph()
		InferShapes(m)
		Count(m)
		NewIndex(g)
		DataInputs(g)
		nm := NewNamer(g)
		nm.Fresh("")
		nm.Fresh(g.GetName())
		readErrs := readInitializers(g)

		sorted := m.Clone()
		sortErr := TopoSort(sorted.GetGraph())
		cleaned := m.Clone()
		cleanErr := Clean(cleaned.GetGraph())
		if verr != nil {
			return
		}
		if sortErr != nil {
			t.Fatalf("TopoSort of a valid model: %v", sortErr)
		}
		if a, b := mustEncode(t, sorted), mustEncode(t, m); !bytes.Equal(a, b) {
			t.Fatal("TopoSort reordered a valid model, whose nodes Validate found sorted")
		}
		if cleanErr != nil {
			t.Fatalf("Clean of a valid model: %v", cleanErr)
		}
		if err := Validate(cleaned); err != nil {
			t.Fatalf("Clean made a valid model invalid: %v", err)
		}
		if err := errors.Join(readErrs...); err != nil {
			t.Fatalf("initializer of a valid model: %v", err)
		}
	})
}

// readInitializers reads every initializer of the element types the project
// reads, and returns the errors.
func readInitializers(g *onnx.GraphProto) []error {
	var errs []error
	for _, t := range g.GetInitializer() {
		var err error
		switch t.GetDataType() {
		case Float:
			_, err = Floats(t)
		case Float16:
			_, err = Float16s(t)
		case Int64:
			_, err = Int64s(t)
		}
		errs = append(errs, err)
	}
	return errs
}

// mustEncode encodes m; models are compared by their deterministic
// encoding, which is much faster than Equal's reflection.
func mustEncode(t *testing.T, m *Model) []byte {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
