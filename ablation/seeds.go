package ablation

import "github.com/bot-onnx/bot-onnx/internal/stats"

// combine makes one result of the studies of several seeds, each row (and
// the teacher's) the mean of its runs over the seeds, with their spread
// and, against the row it builds on, the paired difference of top-1.
func combine(per []*Result) *Result {
	res := &Result{}
	if per[0].Teacher != nil {
		runs := make([]Row, len(per))
		for k, r := range per {
			runs[k] = *r.Teacher
		}
		t := meanRow(runs)
		res.Teacher = &t
	}
	for i := range per[0].Rows {
		runs := make([]Row, len(per))
		for k, r := range per {
			runs[k] = r.Rows[i]
		}
		res.Rows = append(res.Rows, meanRow(runs))
	}
	done := map[string][]float64{}
	for i, r := range res.Rows {
		top1 := seedValues(r.PerSeed, func(r Row) float64 { return r.Top1 })
		if parent, ok := done[r.Parent]; ok {
			iv := stats.PairedInterval(top1, parent)
			res.Rows[i].Delta = &iv
		}
		done[r.Step] = top1
	}
	return res
}

// meanRow is the row of one step over the runs of its seeds.
func meanRow(runs []Row) Row {
	r := Row{Step: runs[0].Step, Label: runs[0].Label, Parent: runs[0].Parent, Distilled: runs[0].Distilled, Seed: runs[0].Seed, PerSeed: runs}
	r.Top1, r.Top1Std = stats.MeanStd(seedValues(runs, func(r Row) float64 { return r.Top1 }))
	r.Top5, r.Top5Std = stats.MeanStd(seedValues(runs, func(r Row) float64 { return r.Top5 }))
	r.Loss, r.LossStd = stats.MeanStd(seedValues(runs, func(r Row) float64 { return r.Loss }))
	r.Seconds, _ = stats.MeanStd(seedValues(runs, func(r Row) float64 { return r.Seconds }))
	return r
}

func seedValues(runs []Row, f func(Row) float64) []float64 {
	v := make([]float64, len(runs))
	for k, r := range runs {
		v[k] = f(r)
	}
	return v
}
