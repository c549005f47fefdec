package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// The IR versions Validate accepts. The project writes IRVersion, but models
// made elsewhere come in older and newer IR versions: 3 is the first with
// opset imports, 10 the one that came with opset 21 (ONNX 1.16).
const (
	minIRVersion = 3
	maxIRVersion = 10
)

// ValidationError lists everything Validate found wrong with a model.
type ValidationError struct {
	// Problems holds one sentence per problem, each naming where it is (node,
	// value, attribute) and what was expected and found.
	Problems []string
}

// Error summarizes the problems on one line, listing at most three.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid model: " + e.Problems[0]
	}
	const shown = 3
	s := fmt.Sprintf("invalid model: %d problems: %s", len(e.Problems), strings.Join(e.Problems[:min(shown, len(e.Problems))], "; "))
	if more := len(e.Problems) - shown; more > 0 {
		s += fmt.Sprintf(" (and %d more)", more)
	}
	return s
}

// Validate checks a model before it is saved or run, so that a broken graph
// is reported with its causes here rather than as an obscure failure in ONNX
// Runtime or a training step. It checks:
//
//   - the model: IR version 3..10, a default-domain opset import within
//     MinOpset..MaxOpset, a graph;
//   - names: node names unique where given, every value produced once
//     (initializers and graph inputs included), initializer and graph input
//     names unique, every graph output defined;
//   - wiring: every node input defined ("" marks an absent optional input),
//     no cycle, and nodes in topological order as ONNX requires;
//   - the operators ResNets and their exports use (see opSchemas), at the
//     model's opset: input and output counts, attribute names, types,
//     presence and values;
//   - shapes, through InferShapes, once everything above holds;
//   - tensors (initializers and tensor attributes such as Constant's value):
//     stored in the file, holding exactly the elements their shapes
//     declare, so later stages may size buffers by a validated shape.
//
// Operators outside the table, and nodes of other domains, pass unchecked:
// models made elsewhere use many more. Validate returns nil or a
// *ValidationError.
func Validate(m *Model) error {
	v := &validator{}
	v.model(m)
	if g := m.GetGraph(); g != nil {
		modelProblems := len(v.problems)
		v.wiring(g, v.names(g))
		opset := m.Opset()
		for _, n := range g.GetNode() {
			v.node(n, opset)
		}
		// Shape inference trusts node arity and attributes (it indexes inputs
		// by position), and on a broken graph would only echo the problems
		// above, so it runs on a graph that passed every check.
		if len(v.problems) == modelProblems {
			v.shapes(m, opset)
		}
		v.tensors(g)
	}
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	problems []string
}

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) model(m *Model) {
	if ir := m.GetIrVersion(); ir < minIRVersion || ir > maxIRVersion {
		v.addf("ir_version %d is outside the supported %d..%d (the project writes %d)", ir, minIRVersion, maxIRVersion, IRVersion)
	}
	switch opset := m.Opset(); {
	case opset == 0:
		v.addf("no opset import for the default domain (\"\" or \"ai.onnx\")")
	case opset < MinOpset:
		v.addf("default-domain opset %d is older than the %d..%d bot-onnx supports (export the model again at opset %d or later, e.g. torch.onnx.export(..., opset_version=17))", opset, MinOpset, MaxOpset, MinOpset)
	case opset > MaxOpset:
		v.addf("default-domain opset %d is outside the supported %d..%d", opset, MinOpset, MaxOpset)
	}
	if m.GetGraph() == nil {
		v.addf("model has no graph")
	}
}

// names checks that nodes, initializers and graph inputs are named once and
// that every value has a single definition. It returns the node producing
// each value (the first, where several do).
func (v *validator) names(g *onnx.GraphProto) map[string]*onnx.NodeProto {
	nodeNames := map[string]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		if n.GetName() == "" {
			continue
		}
		if first, ok := nodeNames[n.GetName()]; ok {
			v.addf("node name %q is used twice: by a %s and by a %s", n.GetName(), first.GetOpType(), n.GetOpType())
			continue
		}
		nodeNames[n.GetName()] = n
	}
	// source says what defines each graph-level value.
	source := map[string]string{}
	for _, t := range g.GetInitializer() {
		if _, ok := source[t.GetName()]; ok {
			v.addf("initializer %q is defined twice", t.GetName())
		}
		source[t.GetName()] = "an initializer"
	}
	inputs := map[string]bool{}
	for _, in := range g.GetInput() {
		if inputs[in.GetName()] {
			v.addf("graph input %q is declared twice", in.GetName())
		}
		inputs[in.GetName()] = true
		if _, ok := source[in.GetName()]; !ok {
			source[in.GetName()] = "a graph input"
		}
	}
	producer := map[string]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			switch first, produced := producer[o]; {
			case o == "":
			case produced:
				v.addf("value %q is produced by node %s and again by node %s", o, nodeLabel(first), nodeLabel(n))
			case source[o] != "":
				v.addf("value %q is produced by node %s but is also %s", o, nodeLabel(n), source[o])
			default:
				producer[o] = n
			}
		}
	}
	for _, o := range g.GetOutput() {
		if _, ok := producer[o.GetName()]; !ok && source[o.GetName()] == "" {
			v.addf("graph output %q is not defined (no graph input, initializer or node output has that name)", o.GetName())
		}
	}
	return producer
}

// wiring checks that every node input is defined, that the graph has no
// cycle, and that each node comes after the producers of its inputs. The
// cycle check runs TopoSort on a copy of the node list, so the model keeps
// its order.
func (v *validator) wiring(g *onnx.GraphProto, producer map[string]*onnx.NodeProto) {
	available := map[string]bool{}
	for _, t := range g.GetInitializer() {
		available[t.GetName()] = true
	}
	for _, in := range g.GetInput() {
		available[in.GetName()] = true
	}
	acyclic := true
	if err := TopoSort(&onnx.GraphProto{Node: slices.Clone(g.GetNode())}); err != nil {
		v.addf("%v", err)
		acyclic = false
	}
	// Only the first out-of-order use is reported: one TopoSort fixes them all.
	unsortedSeen := false
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in == "" || available[in] {
				continue
			}
			p, produced := producer[in]
			switch {
			case !produced:
				v.addf("node %s: input %q is not defined (no graph input, initializer or node output has that name)", nodeLabel(n), in)
			case acyclic && !unsortedSeen:
				v.addf("not topologically sorted: node %s uses %q before it is produced by node %s", nodeLabel(n), in, nodeLabel(p))
				unsortedSeen = true
			}
		}
		for _, o := range n.GetOutput() {
			available[o] = true
		}
	}
}

// tensors checks that initializers and tensor attributes (Constant's value,
// for one) hold the data their shapes declare. Shape inference reads only
// shapes, and checks the few values it reads itself, so these checks need
// not hold it back.
func (v *validator) tensors(g *onnx.GraphProto) {
	for _, t := range g.GetInitializer() {
		if err := checkData(t); err != nil {
			v.addf("initializer %q: %v", t.GetName(), err)
		}
	}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if t := a.GetT(); a.GetType() == onnx.AttributeProto_TENSOR && t != nil {
				if err := checkData(t); err != nil {
					v.addf("node %s: attribute %q: %v", nodeLabel(n), a.GetName(), err)
				}
			}
		}
	}
}

// node checks that a node names each attribute once and, when the table
// knows its operator at the model's opset, that it fits the schema.
func (v *validator) node(n *onnx.NodeProto, opset int64) {
	at := "node " + nodeLabel(n)
	seen := map[string]bool{}
	for _, a := range n.GetAttribute() {
		if seen[a.GetName()] {
			v.addf("%s: attribute %q is given twice", at, a.GetName())
		}
		seen[a.GetName()] = true
	}
	s := schemaFor(n, opset)
	if s == nil {
		return
	}
	if c := len(n.GetInput()); !s.inputs.holds(c) {
		v.addf("%s: expected %s, found %d", at, s.inputs.count("input"), c)
	}
	if c := len(n.GetOutput()); !s.outputs.holds(c) {
		v.addf("%s: expected %s, found %d", at, s.outputs.count("output"), c)
	}
	for i, in := range n.GetInput()[:min(s.inputs.min, len(n.GetInput()))] {
		if in == "" {
			v.addf("%s: input %d is required but empty", at, i)
		}
	}
	for i, o := range n.GetOutput()[:min(s.outputs.min, len(n.GetOutput()))] {
		if o == "" {
			v.addf("%s: output %d is required but empty", at, i)
		}
	}
	for _, a := range n.GetAttribute() {
		spec, ok := s.attr(a.GetName())
		switch {
		case !ok:
			v.addf("%s: attribute %q is not defined for %s at opset %d", at, a.GetName(), n.GetOpType(), opset)
		case a.GetType() != spec.typ:
			v.addf("%s: attribute %q: expected type %s, found %s", at, a.GetName(), spec.typ, a.GetType())
		case spec.check != nil:
			if msg := spec.check(a); msg != "" {
				v.addf("%s: attribute %q: %s", at, a.GetName(), msg)
			}
		}
	}
	for _, spec := range s.attrs {
		if spec.required && Attr(n, spec.name) == nil {
			v.addf("%s: required attribute %q is missing", at, spec.name)
		}
	}
	if s.window {
		v.window(n, at)
	}
	if s.oneAttr && len(n.GetAttribute()) != 1 {
		v.addf("%s: expected exactly one value attribute, found %d", at, len(n.GetAttribute()))
	}
}

// window checks that a sliding-window operator's per-axis attributes agree
// in length: strides and dilations one value per spatial axis like
// kernel_shape, pads a begin and an end value per axis.
func (v *validator) window(n *onnx.NodeProto, at string) {
	ints := func(name string) ([]int64, bool) {
		a := Attr(n, name)
		return a.GetInts(), a != nil && a.GetType() == onnx.AttributeProto_INTS
	}
	axes, ref := -1, ""
	for _, name := range []string{"kernel_shape", "strides", "dilations"} {
		vals, ok := ints(name)
		switch {
		case !ok:
		case axes < 0:
			axes, ref = len(vals), name
		case len(vals) != axes:
			v.addf("%s: attribute %q: expected %d values like %s, found %d", at, name, axes, ref, len(vals))
		}
	}
	pads, ok := ints("pads")
	switch {
	case !ok:
	case axes >= 0 && len(pads) != 2*axes:
		v.addf("%s: attribute \"pads\": expected %d values (begin and end for each of the %d axes of %s), found %d", at, 2*axes, axes, ref, len(pads))
	case len(pads)%2 != 0:
		v.addf("%s: attribute \"pads\": expected begin and end values for each axis, found an odd count %d", at, len(pads))
	}
}

// shapes runs shape inference and, where it gives an input's rank, checks
// axis attributes against it.
func (v *validator) shapes(m *Model, opset int64) {
	shapes, err := InferShapes(m)
	if err != nil {
		v.addf("shape inference: %v", err)
		return
	}
	for _, n := range m.GetGraph().GetNode() {
		s := schemaFor(n, opset)
		a := Attr(n, "axis")
		if s == nil || s.axis == noAxis || a == nil || len(n.GetInput()) == 0 {
			continue
		}
		x, known := shapes[n.GetInput()[0]]
		if !known {
			continue
		}
		lo, hi := -int64(len(x)), int64(len(x))-1
		if s.axis == axisUpToRank {
			hi++
		}
		if a.GetI() < lo || a.GetI() > hi {
			v.addf("node %s: attribute \"axis\": expected %d..%d for an input of rank %d, found %d", nodeLabel(n), lo, hi, len(x), a.GetI())
		}
	}
}

// arity is an allowed count of inputs or outputs; max < 0 means no limit.
type arity struct{ min, max int }

func (s arity) holds(n int) bool { return n >= s.min && (s.max < 0 || n <= s.max) }

// count describes the arity in words, as in "2 to 3 inputs".
func (s arity) count(what string) string {
	switch {
	case s.max < 0:
		return fmt.Sprintf("at least %d %ss", s.min, what)
	case s.min == s.max && s.min == 1:
		return "1 " + what
	case s.min == s.max:
		return fmt.Sprintf("%d %ss", s.min, what)
	default:
		return fmt.Sprintf("%d to %d %ss", s.min, s.max, what)
	}
}

// attrSpec describes one attribute of an operator.
type attrSpec struct {
	name     string
	typ      onnx.AttributeProto_AttributeType
	required bool
	// check returns what is wrong with a value of the right type, or "".
	check func(*onnx.AttributeProto) string
}

// axisRule says how an operator's axis attribute relates to its first
// input's rank r.
type axisRule int

const (
	noAxis       axisRule = iota
	axisInRank            // -r ≤ axis ≤ r-1
	axisUpToRank          // -r ≤ axis ≤ r, as Flatten allows
)

// opSchema is one version of an operator, in effect from opset since until
// the next version listed.
type opSchema struct {
	since           int64
	inputs, outputs arity
	attrs           []attrSpec
	// window marks sliding-window operators, whose per-axis attributes must
	// agree in length.
	window bool
	// oneAttr marks Constant, which takes its value from exactly one attribute.
	oneAttr bool
	axis    axisRule
}

func (s *opSchema) attr(name string) (attrSpec, bool) {
	for _, a := range s.attrs {
		if a.name == name {
			return a, true
		}
	}
	return attrSpec{}, false
}

// KnowsOp reports whether Validate checks default-domain operator op at
// the given opset against a schema of its own (arity and attributes), so
// that a pass means the operator is valid there; operators outside the
// table pass Validate unchecked.
func KnowsOp(op string, opset int64) bool {
	return schemaFor(&onnx.NodeProto{OpType: op}, opset) != nil
}

// schemaFor returns the schema of a default-domain node's operator at the
// given opset, or nil when the node is of another domain or the table does
// not describe its operator at that opset.
func schemaFor(n *onnx.NodeProto, opset int64) *opSchema {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return nil
	}
	versions := opSchemas[n.GetOpType()]
	for i := len(versions) - 1; i >= 0; i-- {
		if versions[i].since <= opset {
			return &versions[i]
		}
	}
	return nil
}

func checkPositive(a *onnx.AttributeProto) string {
	for _, x := range a.GetInts() {
		if x <= 0 {
			return fmt.Sprintf("expected positive values, found %v", a.GetInts())
		}
	}
	return ""
}

func checkNonNegative(a *onnx.AttributeProto) string {
	for _, x := range a.GetInts() {
		if x < 0 {
			return fmt.Sprintf("expected non-negative values, found %v", a.GetInts())
		}
	}
	return ""
}

func checkAtLeastOne(a *onnx.AttributeProto) string {
	if a.GetI() < 1 {
		return fmt.Sprintf("expected at least 1, found %d", a.GetI())
	}
	return ""
}

func checkBool(a *onnx.AttributeProto) string {
	if a.GetI() != 0 && a.GetI() != 1 {
		return fmt.Sprintf("expected 0 or 1, found %d", a.GetI())
	}
	return ""
}

func checkPositiveFloat(a *onnx.AttributeProto) string {
	if !(a.GetF() > 0) {
		return fmt.Sprintf("expected a positive value, found %g", a.GetF())
	}
	return ""
}

// maxDataType is the newest tensor element type of opsets up to MaxOpset:
// INT4, added in opset 21.
const maxDataType = 22

func checkDataType(a *onnx.AttributeProto) string {
	if a.GetI() < 1 || a.GetI() > maxDataType {
		return fmt.Sprintf("expected a tensor element type 1..%d, found %d", maxDataType, a.GetI())
	}
	return ""
}

func checkOneOf(values ...string) func(*onnx.AttributeProto) string {
	return func(a *onnx.AttributeProto) string {
		if !slices.Contains(values, string(a.GetS())) {
			return fmt.Sprintf("expected one of %s, found %q", strings.Join(values, ", "), a.GetS())
		}
		return ""
	}
}

// Attributes shared by several operators.
var (
	attrAutoPad     = attrSpec{name: "auto_pad", typ: onnx.AttributeProto_STRING, check: checkOneOf("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")}
	attrCeilMode    = attrSpec{name: "ceil_mode", typ: onnx.AttributeProto_INT, check: checkBool}
	attrDilations   = attrSpec{name: "dilations", typ: onnx.AttributeProto_INTS, check: checkPositive}
	attrKernelShape = attrSpec{name: "kernel_shape", typ: onnx.AttributeProto_INTS, check: checkPositive}
	attrPoolKernel  = attrSpec{name: "kernel_shape", typ: onnx.AttributeProto_INTS, required: true, check: checkPositive}
	attrPads        = attrSpec{name: "pads", typ: onnx.AttributeProto_INTS, check: checkNonNegative}
	attrStrides     = attrSpec{name: "strides", typ: onnx.AttributeProto_INTS, check: checkPositive}
	attrAxis        = attrSpec{name: "axis", typ: onnx.AttributeProto_INT}

	averagePool11 = []attrSpec{attrAutoPad, attrCeilMode, {name: "count_include_pad", typ: onnx.AttributeProto_INT, check: checkBool}, attrPoolKernel, attrPads, attrStrides}
	batchNorm9    = []attrSpec{{name: "epsilon", typ: onnx.AttributeProto_FLOAT, check: checkPositiveFloat}, {name: "momentum", typ: onnx.AttributeProto_FLOAT}}
	cast13        = []attrSpec{{name: "to", typ: onnx.AttributeProto_INT, required: true, check: checkDataType}}
	resize13      = []attrSpec{
		{name: "coordinate_transformation_mode", typ: onnx.AttributeProto_STRING, check: checkOneOf("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize")},
		{name: "cubic_coeff_a", typ: onnx.AttributeProto_FLOAT},
		{name: "exclude_outside", typ: onnx.AttributeProto_INT, check: checkBool},
		{name: "extrapolation_value", typ: onnx.AttributeProto_FLOAT},
		{name: "mode", typ: onnx.AttributeProto_STRING, check: checkOneOf("nearest", "linear", "cubic")},
		{name: "nearest_mode", typ: onnx.AttributeProto_STRING, check: checkOneOf("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")},
	}
)

var (
	arity1           = arity{1, 1}
	arity2           = arity{2, 2}
	unarySchema      = []opSchema{{since: 1, inputs: arity1, outputs: arity1}}
	binarySchema     = []opSchema{{since: 7, inputs: arity2, outputs: arity1}}
	activationSchema = []opSchema{{since: 6, inputs: arity1, outputs: arity1}}
)

// opSchemas describes the operators the project builds, rewrites and
// exports, per ONNX's operator changelog (docs/Changelog.md). Each operator
// lists the version in effect at MinOpset, or an older one with the same
// inputs, outputs and attributes so that older models such as ONNX's own
// conformance tests are checked too, and every later version up to MaxOpset
// that changed them; versions that only widened the accepted types are left
// out. String attributes accept the values of every listed version.
var opSchemas = map[string][]opSchema{
	"Conv": {{since: 11, inputs: arity{2, 3}, outputs: arity1, window: true,
		attrs: []attrSpec{attrAutoPad, attrDilations, {name: "group", typ: onnx.AttributeProto_INT, check: checkAtLeastOne}, attrKernelShape, attrPads, attrStrides}}},
	"BatchNormalization": {
		{since: 9, inputs: arity{5, 5}, outputs: arity{1, 5}, attrs: batchNorm9},
		{since: 14, inputs: arity{5, 5}, outputs: arity{1, 3},
			attrs: append(slices.Clip(batchNorm9), attrSpec{name: "training_mode", typ: onnx.AttributeProto_INT, check: checkBool})},
	},
	"Relu": activationSchema,
	"MaxPool": {{since: 12, inputs: arity1, outputs: arity{1, 2}, window: true,
		attrs: []attrSpec{attrAutoPad, attrCeilMode, attrDilations, attrPoolKernel, attrPads, {name: "storage_order", typ: onnx.AttributeProto_INT, check: checkBool}, attrStrides}}},
	"AveragePool": {
		{since: 11, inputs: arity1, outputs: arity1, window: true, attrs: averagePool11},
		{since: 19, inputs: arity1, outputs: arity1, window: true, attrs: append(slices.Clip(averagePool11), attrDilations)},
	},
	"GlobalAveragePool": unarySchema,
	"Add":               binarySchema,
	"Sub":               binarySchema,
	"Mul":               binarySchema,
	"Div":               binarySchema,
	"Flatten":           {{since: 11, inputs: arity1, outputs: arity1, attrs: []attrSpec{attrAxis}, axis: axisUpToRank}},
	"Gemm": {{since: 11, inputs: arity{2, 3}, outputs: arity1, attrs: []attrSpec{
		{name: "alpha", typ: onnx.AttributeProto_FLOAT},
		{name: "beta", typ: onnx.AttributeProto_FLOAT},
		{name: "transA", typ: onnx.AttributeProto_INT, check: checkBool},
		{name: "transB", typ: onnx.AttributeProto_INT, check: checkBool},
	}}},
	"Identity": unarySchema,
	"Softmax":  {{since: 13, inputs: arity1, outputs: arity1, attrs: []attrSpec{attrAxis}, axis: axisInRank}},
	"Resize": {
		{since: 13, inputs: arity{1, 4}, outputs: arity1, attrs: resize13},
		{since: 18, inputs: arity{1, 4}, outputs: arity1, attrs: append(slices.Clip(resize13),
			attrSpec{name: "antialias", typ: onnx.AttributeProto_INT, check: checkBool},
			attrSpec{name: "axes", typ: onnx.AttributeProto_INTS},
			attrSpec{name: "keep_aspect_ratio_policy", typ: onnx.AttributeProto_STRING, check: checkOneOf("stretch", "not_larger", "not_smaller")})},
	},
	"Cast": {
		{since: 13, inputs: arity1, outputs: arity1, attrs: cast13},
		{since: 19, inputs: arity1, outputs: arity1, attrs: append(slices.Clip(cast13), attrSpec{name: "saturate", typ: onnx.AttributeProto_INT, check: checkBool})},
	},
	"Constant": {{since: 12, inputs: arity{0, 0}, outputs: arity1, oneAttr: true, attrs: []attrSpec{
		{name: "sparse_value", typ: onnx.AttributeProto_SPARSE_TENSOR},
		{name: "value", typ: onnx.AttributeProto_TENSOR},
		{name: "value_float", typ: onnx.AttributeProto_FLOAT},
		{name: "value_floats", typ: onnx.AttributeProto_FLOATS},
		{name: "value_int", typ: onnx.AttributeProto_INT},
		{name: "value_ints", typ: onnx.AttributeProto_INTS},
		{name: "value_string", typ: onnx.AttributeProto_STRING},
		{name: "value_strings", typ: onnx.AttributeProto_STRINGS},
	}}},
	"Reshape": {
		{since: 5, inputs: arity2, outputs: arity1},
		{since: 14, inputs: arity2, outputs: arity1, attrs: []attrSpec{{name: "allowzero", typ: onnx.AttributeProto_INT, check: checkBool}}},
	},
	"Concat":  {{since: 11, inputs: arity{1, -1}, outputs: arity1, attrs: []attrSpec{{name: "axis", typ: onnx.AttributeProto_INT, required: true}}, axis: axisInRank}},
	"Sigmoid": activationSchema,
}
