// Package suggest finds the name a user probably meant ("did you mean").
package suggest

import "strings"

// Closest is the candidate nearest to name, ignoring case: one within two
// edits (or one that name is a prefix of), else "".
func Closest(name string, candidates []string) string {
	best, bestDist := "", 3
	n := strings.ToLower(name)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := distance(n, lc)
		if d > 0 && len(n) >= 3 && strings.HasPrefix(lc, n) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Hint is " (did you mean X?)" for the closest candidate, or "".
func Hint(name string, candidates []string) string {
	if c := Closest(name, candidates); c != "" && c != name {
		return " (did you mean " + c + "?)"
	}
	return ""
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
