package export

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
)

// Metadata keys an export writes, besides those it keeps from the source
// (bot-onnx.model, .variant, .tricks, .classes, .mean, .std, …: how the
// weights were made and how to feed the model).
const (
	// MetaExport holds the export's options as JSON (Record).
	MetaExport = "bot-onnx.export"
	// MetaFeatures, MetaFeatureStrides and MetaFeatureChannels list a
	// backbone's outputs, their strides and channel counts, comma-separated
	// and in the same order.
	MetaFeatures        = "bot-onnx.features"
	MetaFeatureStrides  = "bot-onnx.feature_strides"
	MetaFeatureChannels = "bot-onnx.feature_channels"
)

// Producer is the producer_name of exported models.
const Producer = "bot-onnx"

// Record is the MetaExport entry: what the export did, so that a consumer
// (or a later export) can tell how the file was made.
type Record struct {
	Head     Head     `json:"head"`
	Softmax  bool     `json:"softmax,omitempty"`
	Features []string `json:"features,omitempty"`
	FoldBN   bool     `json:"fold_bn"`
	Folded   int      `json:"folded,omitempty"`
	FP16     bool     `json:"fp16"`
	FP16IO   bool     `json:"fp16_io,omitempty"`
	Opset    int64    `json:"opset"`
	// Batch is the fixed batch size or "dynamic"; InputSize "HxW" or "dynamic".
	Batch     string `json:"batch"`
	InputSize string `json:"input_size"`
}

// setMetadata stamps the producer and the export record, and for a
// backbone its feature names, strides and channel counts. Other metadata
// of the source stays as it was, but for the feature keys of a source
// that was itself a backbone (a head fine-tuned on an exported backbone,
// see package transfer) when exporting a classifier: its outputs are no
// longer those features.
func setMetadata(m *graph.Model, opts Options, res *Result) {
	m.ProducerName, m.ProducerVersion = Producer, opts.ProducerVersion
	if len(res.Features) == 0 {
		m.MetadataProps = slices.DeleteFunc(m.MetadataProps, func(p *onnx.StringStringEntryProto) bool {
			return p.GetKey() == MetaFeatures || p.GetKey() == MetaFeatureStrides || p.GetKey() == MetaFeatureChannels
		})
	}
	in, _, _ := graph.ShapeOf(m.GetGraph().GetInput()[0])
	rec := Record{Head: res.Head, Softmax: opts.Softmax, FoldBN: opts.FoldBN, FP16: opts.FP16, FP16IO: opts.FP16IO,
		Opset: m.Opset(), Batch: "dynamic", InputSize: "dynamic"}
	if in[0].Known() {
		rec.Batch = in[0].String()
	}
	if in[2:].Known() {
		rec.InputSize = in[2].String() + "x" + in[3].String()
	}
	if res.Fold != nil {
		rec.Folded = res.Fold.Folded
	}
	if len(res.Features) > 0 {
		names, strides, channels := make([]string, len(res.Features)), make([]string, len(res.Features)), make([]string, len(res.Features))
		for i, f := range res.Features {
			names[i], strides[i], channels[i] = f.Name, strconv.FormatInt(f.Stride, 10), strconv.FormatInt(f.Channels, 10)
		}
		rec.Features = names
		m.SetMetadata(MetaFeatures, strings.Join(names, ","))
		m.SetMetadata(MetaFeatureStrides, strings.Join(strides, ","))
		m.SetMetadata(MetaFeatureChannels, strings.Join(channels, ","))
	}
	data, _ := json.Marshal(rec) // a struct of plain fields always marshals
	m.SetMetadata(MetaExport, string(data))
}
