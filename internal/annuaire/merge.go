package annuaire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Merge returns a Source that queries every source concurrently and merges their results,
// deduplicated by address (case-insensitive) keeping the richest entry, the sources' results
// interleaved rank by rank (each source's best first). A failing source does not hide the others: Search returns the
// results it has with the errors joined (errors.Join), each naming its source by position.
// The merged result is cut to q.Limit (20 when 0).
func Merge(sources ...Source) Source {
	return SourceFunc(func(ctx context.Context, q Query) ([]Entry, error) {
		results, err := searchAll(ctx, q, sources)
		return mergeEntries(results, q.Limit), err
	})
}

// searchAll queries every source concurrently: their results by position, and their errors
// joined, each naming its source by position.
func searchAll(ctx context.Context, q Query, sources []Source) ([][]Entry, error) {
	results := make([][]Entry, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.Search(ctx, q)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("source %d: %w", i+1, errs[i])
			}
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// InOrder is Merge whose results come source after source, in the order given, rather than
// interleaved: the compose screen's "local index first, then FHIR" (ECO.3.1.4). The sources are
// queried concurrently; an address found again in a later source keeps its first place, with
// the richest entry; a failing source does not hide the others (errors joined, as Merge).
func InOrder(sources ...Source) Source {
	return SourceFunc(func(ctx context.Context, q Query) ([]Entry, error) {
		results, err := searchAll(ctx, q, sources)
		// One "source" holding them all in order: mergeEntries keeps that order.
		return mergeEntries([][]Entry{slices.Concat(results...)}, q.Limit), err
	})
}

// NamedSource labels a Source so that Merge's errors and the entries' Source name it.
func NamedSource(name string, s Source) Source {
	return SourceFunc(func(ctx context.Context, q Query) ([]Entry, error) {
		entries, err := s.Search(ctx, q)
		for i := range entries {
			if entries[i].Source == "" {
				entries[i].Source = name
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), name+": ") { // "fhir: fhir: …" says it twice
			err = fmt.Errorf("%s: %w", name, err)
		}
		return entries, err
	})
}

func mergeEntries(results [][]Entry, limit int) []Entry {
	if limit <= 0 {
		limit = defaultLimit
	}
	var out []Entry
	at := map[string]int{}
	// Interleave the sources' results rank by rank, so that each source's best come first.
	for rank := 0; ; rank++ {
		more := false
		for _, res := range results {
			if rank >= len(res) {
				continue
			}
			more = true
			e := res[rank]
			key := strings.ToLower(strings.TrimSpace(e.Address))
			if key == "" {
				continue
			}
			if i, ok := at[key]; ok {
				if richness(e) > richness(out[i]) {
					out[i] = e
				}
				continue
			}
			at[key] = len(out)
			out = append(out, e)
		}
		if !more {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
