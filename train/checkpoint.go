package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Checkpoint is the whole state of a training run at an epoch boundary:
// enough to resume it exactly. Tensors holds the parameters and BatchNorm
// running statistics under their ONNX initializer names and the
// optimiser's velocities under "velocity/<name>".
type Checkpoint struct {
	// Epoch is the number of epochs completed; Step the optimiser steps done.
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
	// Config holds the run's settings as JSON (the model as a hash of its
	// file); resuming with other settings is refused, naming those that
	// differ.
	Config  string               `json:"config"`
	Tensors map[string][]float32 `json:"-"`
}

// checkpointMagic starts every checkpoint file; the version is its last byte.
const checkpointMagic = "BOTONNXCKPT\x01"

// tensorEntry locates one tensor in a checkpoint file's data section.
type tensorEntry struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type checkpointHeader struct {
	Checkpoint
	Tensors []tensorEntry `json:"tensors"`
}

// Save writes the checkpoint atomically: magic, a JSON header, the tensors
// as little-endian float32 in header order, and a CRC-32 of all before it.
// A crash or a full disk while saving leaves the previous file intact.
func (c *Checkpoint) Save(path string) error {
	names := make([]string, 0, len(c.Tensors))
	for name := range c.Tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	h := checkpointHeader{Checkpoint: *c}
	size := 0
	for _, name := range names {
		h.Tensors = append(h.Tensors, tensorEntry{name, len(c.Tensors[name])})
		size += 4 * len(c.Tensors[name])
	}
	header, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(len(checkpointMagic) + 4 + len(header) + size + 4)
	buf.WriteString(checkpointMagic)
	binary.Write(&buf, binary.LittleEndian, uint32(len(header)))
	buf.Write(header)
	word := make([]byte, 4)
	for _, name := range names {
		for _, v := range c.Tensors[name] {
			binary.LittleEndian.PutUint32(word, math.Float32bits(v))
			buf.Write(word)
		}
	}
	binary.Write(&buf, binary.LittleEndian, crc32.ChecksumIEEE(buf.Bytes()))
	return graph.WriteFileAtomic(path, buf.Bytes())
}

// LoadCheckpoint reads a checkpoint written by Save, refusing a file that
// is truncated, corrupted or of another format.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(data) < len(checkpointMagic)+8 || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, bad("not a bot-onnx checkpoint (expected it to start with %q)", checkpointMagic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum mismatch: the file is truncated or corrupted")
	}
	rest := body[len(checkpointMagic):]
	n := int(binary.LittleEndian.Uint32(rest))
	if n > len(rest)-4 {
		return nil, bad("header of %d bytes does not fit in the file", n)
	}
	var h checkpointHeader
	if err := json.Unmarshal(rest[4:4+n], &h); err != nil {
		return nil, bad("header: %v", err)
	}
	values := rest[4+n:]
	c := h.Checkpoint
	c.Tensors = make(map[string][]float32, len(h.Tensors))
	for _, e := range h.Tensors {
		if e.Count < 0 || 4*e.Count > len(values) {
			return nil, bad("tensor %q of %d values runs past the end", e.Name, e.Count)
		}
		v := make([]float32, e.Count)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(values[4*i:]))
		}
		c.Tensors[e.Name] = v
		values = values[4*e.Count:]
	}
	if len(values) != 0 {
		return nil, bad("%d bytes after the last tensor", len(values))
	}
	return &c, nil
}
