package kernel

import (
	"fmt"
	"sync"
	"testing"
)

// resnet20Convs are the convolution shapes of CIFAR ResNet-20 at batch 64,
// the half batch one of the engine's two replicas runs.
var resnet20Convs = []struct {
	name string
	s    ConvShape
}{
	{"stem 3-16 3x3 32x32", ConvShape{N: 64, C: 3, H: 32, W: 32, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}},
	{"16-16 3x3 32x32", ConvShape{N: 64, C: 16, H: 32, W: 32, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}},
	{"16-32 3x3 s2 32x32", ConvShape{N: 64, C: 16, H: 32, W: 32, K: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}},
	{"32-32 3x3 16x16", ConvShape{N: 64, C: 32, H: 16, W: 16, K: 32, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}},
	{"32-64 3x3 s2 16x16", ConvShape{N: 64, C: 32, H: 16, W: 16, K: 64, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}},
	{"64-64 3x3 8x8", ConvShape{N: 64, C: 64, H: 8, W: 8, K: 64, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}},
	{"16-32 1x1 s2 32x32", ConvShape{N: 64, C: 16, H: 32, W: 32, K: 32, KH: 1, KW: 1, StrideH: 2, StrideW: 2}},
	{"32-64 1x1 s2 16x16", ConvShape{N: 64, C: 32, H: 16, W: 16, K: 64, KH: 1, KW: 1, StrideH: 2, StrideW: 2}},
}

// resnet50Convs are two layer shapes of a ResNet-50 bottleneck at batch
// 16: its 3×3 convolution and its 1×1 reduction, at 56×56.
var resnet50Convs = []struct {
	name string
	s    ConvShape
}{
	{"r50 64-64 3x3 56x56", ConvShape{N: 16, C: 64, H: 56, W: 56, K: 64, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}},
	{"r50 256-64 1x1 56x56", ConvShape{N: 16, C: 256, H: 56, W: 56, K: 64, KH: 1, KW: 1}},
}

// benchConvs are the shapes BenchmarkConv2DPaths times.
var benchConvs = append(resnet20Convs[:len(resnet20Convs):len(resnet20Convs)], resnet50Convs...)

// BenchmarkConv2DPaths times float32 forward and backward (dx, dw, db)
// separately, one thread per call, on each ResNet-20 layer shape at batch
// 64 and each ResNet-50 one at batch 16: oneDNN in fp32 and bf16 against
// the Go algorithm for the shape. gflop/s counts the forward FLOPs forward
// and twice them backward (dx and dw). Run it short:
// -bench=Conv2DPaths -benchtime=20x.
func BenchmarkConv2DPaths(b *testing.B) {
	SetBLASThreads(1)
	for _, bc := range benchConvs {
		s := bc.s
		for _, v := range []struct {
			name string
			prec Precision
			goAl bool
		}{{"go", FP32, true}, {"onednn", FP32, false}, {"onednn-bf16", BF16, false}} {
			if v.prec == BF16 && BF16Support() != nil {
				continue
			}
			c, err := NewConv2DPrecision[float32](s, v.prec)
			if err != nil {
				b.Fatal(err)
			}
			if v.goAl {
				c.path = c.goPath()
				c.alloc()
			}
			r := newRand(1)
			x, w, dy := toF32(randn(r, s.XLen())), toF32(randn(r, s.WLen())), toF32(randn(r, s.YLen()))
			bias, db := make([]float32, s.K), make([]float32, s.K)
			y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
			b.Run(fmt.Sprintf("%s/fwd/%s", bc.name, c.algorithm()), func(b *testing.B) {
				for b.Loop() {
					c.Forward(x, w, bias, y)
				}
				b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
			})
			b.Run(fmt.Sprintf("%s/bwd/%s", bc.name, c.algorithm()), func(b *testing.B) {
				for b.Loop() {
					c.Backward(x, w, dy, dx, dw, db)
				}
				b.ReportMetric(2*s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
			})
			// A network's first layer needs no dx.
			b.Run(fmt.Sprintf("%s/bwd-dw/%s", bc.name, c.algorithm()), func(b *testing.B) {
				for b.Loop() {
					c.Backward(x, w, dy, nil, dw, db)
				}
				b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
			})
		}
	}
}

// BenchmarkConv2D times float32 forward+backward (dx, dw, db) of each
// ResNet-20 layer shape on one thread, with the algorithm NewConv2DPrecision picks
// and, for comparison, with the two general Go algorithms. gflop/s counts
// three times the forward FLOPs (forward, dx, dw).
func BenchmarkConv2D(b *testing.B) {
	SetBLASThreads(1)
	for _, bc := range resnet20Convs {
		s := bc.s
		for _, force := range []convPath{-1, pathShifted, pathIm2col} {
			c := newConvCase[float32](b, s, -1)
			if force >= 0 {
				if c.path == force {
					continue
				}
				c = newConvCase[float32](b, s, force)
			}
			b.Run(fmt.Sprintf("%s/%s", bc.name, c.algorithm()), func(b *testing.B) {
				r := newRand(1)
				x, w, dy := toF32(randn(r, s.XLen())), toF32(randn(r, s.WLen())), toF32(randn(r, s.YLen()))
				bias, db := make([]float32, s.K), make([]float32, s.K)
				y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
				b.ResetTimer()
				for b.Loop() {
					c.Forward(x, w, bias, y)
					c.Backward(x, w, dy, dx, dw, db)
				}
				b.ReportMetric(3*s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
			})
		}
	}
}

// BenchmarkConv2DForward times the forward pass alone.
func BenchmarkConv2DForward(b *testing.B) {
	SetBLASThreads(1)
	for _, bc := range resnet20Convs {
		s := bc.s
		c := newConvCase[float32](b, s, -1)
		b.Run(fmt.Sprintf("%s/%s", bc.name, c.algorithm()), func(b *testing.B) {
			r := newRand(1)
			x, w := toF32(randn(r, s.XLen())), toF32(randn(r, s.WLen()))
			y := make([]float32, s.YLen())
			for b.Loop() {
				c.Forward(x, w, nil, y)
			}
			b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
		})
	}
}

// BenchmarkSgemm is the reference rate: a square product on one BLAS
// thread.
func BenchmarkSgemm(b *testing.B) {
	SetBLASThreads(1)
	const n = 512
	a, c := make([]float32, n*n), make([]float32, n*n)
	for b.Loop() {
		Gemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
}

// BenchmarkBatchNorm times float32 training forward+backward on ResNet-20's
// first-stage activation at batch 64; GB/s counts the five passes over
// the tensor (two statistics passes and the normalisation forward, the
// gradient sums and dx backward) at 4 bytes an element.
func BenchmarkBatchNorm(b *testing.B) {
	const n, c, hw = 64, 16, 32 * 32
	bn, err := newBatchNorm[float32](n, c, hw, 1e-5, 0.9)
	if err != nil {
		b.Fatal(err)
	}
	r := newRand(1)
	x, dy := toF32(randn(r, n*c*hw)), toF32(randn(r, n*c*hw))
	y, dx := make([]float32, n*c*hw), make([]float32, n*c*hw)
	gamma, beta, rm, rv := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
	dgamma, dbeta := make([]float32, c), make([]float32, c)
	fill(gamma, 1)
	for b.Loop() {
		bn.ForwardTrain(x, gamma, beta, rm, rv, y)
		bn.Backward(x, gamma, dy, dx, dgamma, dbeta)
	}
	b.ReportMetric(5*4*n*c*hw*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkConv2DReplicas compares the engine's two ways of using both
// cores on ResNet-20's most common layer (16→16, 3×3, 32×32) at batch
// 128, forward+backward in float32: two goroutine replicas on 64 images
// each with one BLAS thread, against one replica on 128 images with two.
func BenchmarkConv2DReplicas(b *testing.B) {
	defer SetBLASThreads(BLASThreads())
	base := ConvShape{C: 16, H: 32, W: 32, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}
	for _, v := range []struct {
		name               string
		replicas, blasThrs int
	}{{"2 replicas x 1 thread", 2, 1}, {"1 replica x 2 threads", 1, 2}} {
		b.Run(v.name, func(b *testing.B) {
			SetBLASThreads(v.blasThrs)
			s := base
			s.N = 128 / v.replicas
			type replica struct {
				c                   *Conv2D[float32]
				x, w, y, dy, dx, dw []float32
			}
			rs := make([]replica, v.replicas)
			for i := range rs {
				r := newRand(uint64(i))
				rs[i] = replica{c: newConvCase[float32](b, s, -1),
					x: toF32(randn(r, s.XLen())), w: toF32(randn(r, s.WLen())), dy: toF32(randn(r, s.YLen())),
					y: make([]float32, s.YLen()), dx: make([]float32, s.XLen()), dw: make([]float32, s.WLen())}
			}
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range rs {
					wg.Go(func() {
						r := &rs[i]
						r.c.Forward(r.x, r.w, nil, r.y)
						r.c.Backward(r.x, r.w, r.dy, r.dx, r.dw, nil)
					})
				}
				wg.Wait()
			}
			b.ReportMetric(3*s.FLOPs()*float64(v.replicas)*float64(b.N)/b.Elapsed().Seconds()/1e9, "gflop/s")
		})
	}
}
