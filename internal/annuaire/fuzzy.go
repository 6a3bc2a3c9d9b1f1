package annuaire

import (
	"context"
	"database/sql"
	"unicode/utf8"
)

// Typo tolerance: when a query finds nothing, each word of at least minFuzzyLen letters that
// matches no term of the index is replaced by the closest indexed term starting with the same
// letter (edit distance at most 1, or 2 from 6 letters on), the most frequent one on ties.

const minFuzzyLen = 4

// correctWords returns words with the unknown ones corrected, or nil when nothing was corrected.
func correctWords(ctx context.Context, db *sql.DB, words []string) ([]string, error) {
	var out []string
	for i, w := range words {
		w = Fold(w)
		if utf8.RuneCountInString(w) < minFuzzyLen {
			continue
		}
		var one int
		err := db.QueryRowContext(ctx, `SELECT 1 FROM terms WHERE term >= ? AND term < ? LIMIT 1`,
			w, w+"\U0010FFFF").Scan(&one)
		if err == nil {
			continue // a known word or prefix
		} else if err != sql.ErrNoRows {
			return nil, err
		}
		best, err := closestTerm(ctx, db, w)
		if err != nil {
			return nil, err
		}
		if best != "" {
			if out == nil {
				out = append([]string(nil), words...)
			}
			out[i] = best
		}
	}
	return out, nil
}

// closestTerm returns the indexed term closest to w, "" when none is close enough.
func closestTerm(ctx context.Context, db *sql.DB, w string) (string, error) {
	r, size := utf8.DecodeRuneInString(w)
	lo := w[:size]
	hi := string(r + 1)
	maxDist := 1
	if utf8.RuneCountInString(w) >= 6 {
		maxDist = 2
	}
	n := utf8.RuneCountInString(w)
	rows, err := db.QueryContext(ctx, `SELECT term, docs FROM terms WHERE term >= ? AND term < ?
		AND length(term) BETWEEN ? AND ?`, lo, hi, n-maxDist, n+maxDist)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	best, bestDist, bestDocs := "", maxDist+1, 0
	wr := []rune(w)
	for rows.Next() {
		var term string
		var docs int
		if err := rows.Scan(&term, &docs); err != nil {
			return "", err
		}
		n := utf8.RuneCountInString(term)
		if n < len(wr)-maxDist || n > len(wr)+maxDist {
			continue
		}
		d := editDistance(wr, []rune(term), bestDist+1) // exact up to bestDist, for ties
		if d <= maxDist && (d < bestDist || (d == bestDist && docs > bestDocs)) {
			best, bestDist, bestDocs = term, d, docs
		}
	}
	if bestDist > maxDist {
		return "", rows.Err()
	}
	return best, rows.Err()
}

// editDistance is the Levenshtein distance of a and b, or any value ≥ bound once it is known to
// be at least bound.
func editDistance(a, b []rune, bound int) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
