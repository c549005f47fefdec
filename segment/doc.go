// Package segment holds what semantic segmentation adds to classification:
// the evaluation of predicted label maps against true ones, the argmax that
// turns a model's per-pixel logits into label maps, and pictures of
// predictions beside the ground truth.
//
// # Metrics
//
// The definitions are those of the ADE20K scene-parsing benchmark (the
// paper's Table 9), all computed from one confusion matrix accumulated over
// every pixel of every image of the evaluation set, not averaged per image:
//
//   - pixel accuracy = correctly classified pixels / labelled pixels;
//   - IoU of class c = TP_c / (TP_c + FP_c + FN_c): the pixels both labelled
//     and predicted c over those labelled or predicted c;
//   - mean IoU = the mean of IoU_c over the classes.
//
// Pixels whose true label is the ignore label count nowhere: neither as
// labelled pixels nor as false positives of what is predicted there (the
// devkit zeroes predictions at unlabelled pixels; mmsegmentation masks
// them).
//
// A class absent from both the ground truth and the predictions has
// 0/0 for its IoU. ADE20K's devkit (CSAILVision/sceneparsing,
// evaluationCode/utils_eval.py and demoEvaluation.m) divides by
// union + eps, which makes it 0, and averages over all 150 classes: it can
// because every class occurs in its 2,000 validation images.
// mmsegmentation (mmseg/evaluation/metrics/iou_metric.py,
// total_area_to_metrics), which reports ADE20K results today, leaves it
// NaN and takes np.nanmean, so an absent class is left out of the mean
// rather than counted as a failure. This package follows mmsegmentation:
// IoU is NaN for such a class, the mean is over the others
// ([Metrics.Counted] says how many), and both definitions agree whenever
// every class occurs. A class that occurs only in the predictions has
// IoU 0 and is counted.
package segment
