// Package detection holds what object detection adds to classification:
// reading and writing COCO's JSON files (the instances file that holds the
// truth, the results list that holds a detector's boxes), the average
// precision of detections against the truth as PASCAL VOC and COCO define
// it, and CenterNet's training targets, losses and box decoder.
//
// Boxes are COCO's [x, y, width, height] in pixels, (x, y) the top-left
// corner, in continuous coordinates: a box covers [x, x+width) ×
// [y, y+height), its area is width × height, and two boxes' intersection
// over union (IoU) is computed as pycocotools does (common/maskApi.c,
// bbIou). VOC's devkit and py-faster-rcnn's voc_eval.py count pixels
// instead, adding 1 to every width and height; this package does not, in
// the VOC metrics as in COCO's, so the two agree on what overlaps how much.
//
// # Metrics
//
// Evaluate computes, for one set of detections against one truth:
//
//   - VOC2007's 11-point interpolated AP and the all-point AP of VOC2010
//     and later, at one IoU threshold, averaged over the categories that
//     have at least one object in the truth;
//   - COCO's AP averaged over the IoU thresholds 0.50:0.05:0.95, and at 0.50
//     and 0.75 alone, with pycocotools' COCOeval defaults for boxes: area
//     range "all", at most 100 detections per image and category, 101
//     recall points.
//
// The rules of each, and where they come from, are in metrics.go beside the
// code that follows them.
//
// The package imports nothing of the project, and nothing beyond the
// standard library.
package detection
