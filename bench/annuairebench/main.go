// Command annuairebench supports bench/annuaire.sh: it generates a synthetic extraction file and
// measures the search latency of a local Annuaire Santé index per query class.
//
//	annuairebench gen -rows 600000 -seed 1 -o extraction.txt
//	annuairebench latency -index DIR/annuaire.db -n 200
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/annuaire/gen"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: annuairebench gen|latency [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = genCmd(os.Args[2:])
	case "latency":
		err = latencyCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "annuairebench:", err)
		os.Exit(1)
	}
}

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	rows := fs.Int("rows", 600000, "data rows")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("o", "", "output file (required)")
	fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("-o is required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := gen.Write(f, *rows, *seed); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Query classes: prefixes of 1, 3 and 8 characters of words found in the data, and two words.
var classes = map[string][]string{
	"prefix1": {"m", "d", "b", "l", "p", "c", "s", "r", "a", "g", "é", "v"},
	"prefix3": {"mar", "dup", "ber", "lef", "pha", "car", "sai", "rou", "ani", "gir", "hél", "lyo",
		"nan", "inf", "ped", "cli", "750", "130", "gar", "mor"},
	"prefix8": {"martinez", "lefebvre", "pharmaci", "chirurgi", "infirmie", "cardiolo", "montpell",
		"bordeaux", "fontaine", "rousseau", "chevalie", "hopitali", "strasbou", "toulouse",
		"kinesith", "pediatri", "gaillard", "marechal", "perpigna", "laborato"},
	"two_words": {"martin marie", "dupont jean", "médecin lyon", "pharmacien paris", "infirmier nantes",
		"bernard sophie", "cardiologie marseille", "clinique saint", "durand 750", "dentiste bordeaux",
		"robert nath", "centre hospitalier", "moreau lil", "sage-femme rennes", "girard pi"},
}

func latencyCmd(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	index := fs.String("index", "", "index file (required)")
	n := fs.Int("n", 300, "searches per class")
	limit := fs.Int("limit", 20, "results per search")
	fs.Parse(args)
	if *index == "" {
		return fmt.Errorf("-index is required")
	}
	x := annuaire.OpenIndex(*index)
	defer x.Close()
	ctx := context.Background()
	// Warm up: open the file and touch the pages of each class once.
	for _, qs := range classes {
		for _, q := range qs {
			if _, err := x.Search(ctx, annuaire.Query{Text: q, Limit: *limit}); err != nil {
				return err
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"prefix1", "prefix3", "prefix8", "two_words"}
	for _, class := range names {
		qs := classes[class]
		lat := make([]time.Duration, 0, *n)
		hits := 0
		cpu0 := cpuTime()
		for range *n {
			q := qs[r.IntN(len(qs))]
			t := time.Now()
			res, err := x.Search(ctx, annuaire.Query{Text: q, Limit: *limit})
			lat = append(lat, time.Since(t))
			if err != nil {
				return err
			}
			hits += len(res)
		}
		cpu := cpuTime() - cpu0
		slices.Sort(lat)
		out := map[string]any{
			"class": class, "searches": *n,
			"p50_ms": ms(lat[len(lat)/2]), "p99_ms": ms(lat[len(lat)*99/100]), "max_ms": ms(lat[len(lat)-1]),
			"mean_hits": float64(hits) / float64(*n), "cpu_ms_per_search": ms(cpu / time.Duration(*n)),
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the CPU time of the process so far: on a shared machine, wall-clock latency includes
// the time spent waiting for a core, CPU time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
