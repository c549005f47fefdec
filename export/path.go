package export

import (
	"errors"
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
)

// ErrOutputIsSource is FromPath's refusal of an output file that is the
// source model itself.
var ErrOutputIsSource = errors.New("the output names the source model itself")

// FromPath exports the model file src into the file out, as File does,
// refusing (ErrOutputIsSource) an out that names src itself; the result's
// Source is src. Errors of
// loading src are graph.Load's; File's are prefixed "export SRC: ".
func FromPath(src, out string, opts Options) (*Result, error) {
	if err := graph.CheckOutput(out, src); errors.Is(err, graph.ErrOutputIsInput) {
		return nil, fmt.Errorf("%s: %w", out, ErrOutputIsSource)
	} else if err != nil {
		return nil, err
	}
	m, err := graph.Load(src)
	if err != nil {
		return nil, err
	}
	res, err := File(m, out, opts)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", src, err)
	}
	res.Source = src
	return res, nil
}
