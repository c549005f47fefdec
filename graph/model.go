// Package graph is bot-onnx's ONNX IR layer: loading and saving models, building
// graphs from the operators ResNets use, reading and writing initializers as
// float32, producer/consumer indexes, topological order, static shape
// inference, validation, and parameter and MAC counts.
//
// Models are held as the protobuf types of github.com/advancedclimatesystems/gonnx/onnx,
// so every stage of bot-onnx reads and writes plain ONNX, and any stage can take
// a model made elsewhere. The package imports nothing else of the project.
package graph

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

const (
	// IRVersion is the ONNX IR version the project writes: the newest that both
	// ONNX Runtime 1.24 and python3-onnx 1.12's checker accept.
	IRVersion = 8
	// DefaultOpset is the default-domain opset the builder emits. 17 is the
	// newest python3-onnx 1.12 knows.
	DefaultOpset = 17
	// MinOpset and MaxOpset bound the default-domain opsets the validator
	// understands.
	MinOpset = 13
	MaxOpset = 21
)

// Model is an ONNX model. It embeds the protobuf so every field stays
// reachable; the methods add what the project needs on top.
type Model struct {
	*onnx.ModelProto
}

// Opset returns the model's default-domain opset version, or 0 if it imports none.
func (m *Model) Opset() int64 {
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			return o.GetVersion()
		}
	}
	return 0
}

// Clone returns a deep copy of the model.
func (m *Model) Clone() *Model {
	return &Model{proto.Clone(m.ModelProto).(*onnx.ModelProto)}
}

// Metadata returns the value of a metadata_props entry and whether it exists.
func (m *Model) Metadata(key string) (string, bool) {
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == key {
			return p.GetValue(), true
		}
	}
	return "", false
}

// SetMetadata sets a metadata_props entry, replacing an existing one.
func (m *Model) SetMetadata(key, value string) {
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == key {
			p.Value = value
			return
		}
	}
	m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: key, Value: value})
}

// Decode parses a serialized ModelProto. It rejects bytes that parse as a
// protobuf but carry no graph or IR version, which is what most non-ONNX
// files do.
func Decode(data []byte) (*Model, error) {
	if len(data) == 0 {
		return nil, errors.New("not an ONNX model: empty input")
	}
	mp := &onnx.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %v", err)
	}
	if mp.GetIrVersion() <= 0 {
		return nil, errors.New("not an ONNX model: no IR version")
	}
	if mp.GetGraph() == nil {
		return nil, errors.New("not an ONNX model: no graph")
	}
	return &Model{mp}, nil
}

// Encode serializes the model deterministically, so equal models give equal bytes.
func (m *Model) Encode() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m.ModelProto)
}

// Load reads an .onnx file.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model %s does not exist: %w", path, fs.ErrNotExist)
	} else if err != nil {
		return nil, err
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Save writes the model to path atomically: a reader sees the old file or the
// whole new one, never a partial write.
func (m *Model) Save(path string) error {
	data, err := m.Encode()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFileAtomic(path, data)
}

// ErrModelDiffers is SaveOrMatch's answer when path holds another model.
var ErrModelDiffers = errors.New("a different model is there already")

// SaveOrMatch saves m to path, or, where a model is there already (saved
// by an earlier start of a resumable job), checks that it equals m and
// returns ErrModelDiffers when it does not, leaving it as it is.
func (m *Model) SaveOrMatch(path string) error {
	if old, err := Load(path); err == nil {
		if !Equal(old, m) {
			return fmt.Errorf("%s: %w", path, ErrModelDiffers)
		}
		return nil
	}
	return m.Save(path)
}

// WriteFileAtomic writes data to a temporary file in path's folder, syncs it
// and renames it over path, so that a failure or interruption never leaves a
// half-written file behind. It refuses a path that holds something other
// than a regular file (a folder, a device such as /dev/null, a pipe), which
// the rename would replace. While it writes, the temporary file is listed
// for RemovePendingWrites.
func WriteFileAtomic(path string, data []byte) error {
	if err := CheckOutput(path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	pendingWrites.Store(tmpName, true)
	defer pendingWrites.Delete(tmpName)
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmpName)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrOutputIsInput is CheckOutput's refusal of an output path that names
// one of the inputs: writing it would destroy what is being read.
var ErrOutputIsInput = errors.New("the output is an input file")

// CheckOutput refuses an output path before any work is done for it: one
// that names the same file as one of inputs ("" entries are skipped), or
// that holds something other than a regular file (a folder, a device).
// Commands call it first, so that a refusal leaves everything untouched.
func CheckOutput(out string, inputs ...string) error {
	info, err := os.Stat(out)
	if err != nil {
		return nil
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("write %s: expected a regular file or a new path, found %s", out, fileKind(info.Mode()))
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		if a, err := os.Stat(in); err == nil && os.SameFile(a, info) {
			return fmt.Errorf("%s: %w %s", out, ErrOutputIsInput, in)
		}
	}
	return nil
}

// pendingWrites holds the temporary files WriteFileAtomic is writing.
var pendingWrites sync.Map

// RemovePendingWrites deletes the temporary files of the writes in
// progress. A program calls it when a signal ends it before they finish,
// so that an interrupted write of a large model leaves nothing behind.
func RemovePendingWrites() {
	pendingWrites.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		return true
	})
}

// fileKind names what a non-regular file is, for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}

// Equal reports whether two models are semantically identical: the same
// fields with the same values, field by field. Initializers stored as
// float_data and as raw_data compare unequal.
func Equal(a, b *Model) bool {
	return proto.Equal(a.ModelProto, b.ModelProto)
}
