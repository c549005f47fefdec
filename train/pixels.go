package train

// countLabelled returns the number of labels that are not IgnoreLabel.
func countLabelled(labels []int32) int {
	n := 0
	for _, l := range labels {
		if l != IgnoreLabel {
			n++
		}
	}
	return n
}
