package annuaire

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/mssante/mssante/internal/annuaire/gen"
)

// The search benchmarks run on a generated national-size index (600,000 rows, as the real file's
// 536,000), built once per process in a temporary directory; MSSANTE_BENCH_ROWS changes the size.
// They run only under -bench: plain go test does not build it.
//
//	go test -run XXX -bench Search -benchtime 2000x ./internal/annuaire/

var bench struct {
	once sync.Once
	dir  string
	x    *Index
	err  error
}

func benchIndex(b *testing.B) *Index {
	b.Helper()
	bench.once.Do(func() {
		rows := 600000
		if v, err := strconv.Atoi(os.Getenv("MSSANTE_BENCH_ROWS")); err == nil && v > 0 {
			rows = v
		}
		bench.dir, bench.err = os.MkdirTemp("", "annuaire-bench-")
		if bench.err != nil {
			return
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(gen.Write(pw, rows, 1)) }()
		path := filepath.Join(bench.dir, IndexFile)
		if _, bench.err = BuildIndex(context.Background(), path, pr, nil); bench.err == nil {
			bench.x = OpenIndex(path)
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.x
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		if bench.x != nil {
			bench.x.Close()
		}
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchSearch(b *testing.B, queries []string) {
	x := benchIndex(b)
	ctx := context.Background()
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		res, err := x.Search(ctx, Query{Text: queries[i%len(queries)]})
		if err != nil {
			b.Fatal(err)
		}
		hits += len(res)
	}
	if hits == 0 {
		b.Fatal("no hit")
	}
}

// ECO.3.1.4: search as the user types, by query class.
func BenchmarkSearch_prefix1(b *testing.B) {
	benchSearch(b, []string{"m", "d", "b", "l", "p", "c", "s", "r", "a", "g", "é", "v"})
}

func BenchmarkSearch_prefix3(b *testing.B) {
	benchSearch(b, []string{"mar", "dup", "ber", "lef", "pha", "car", "sai", "rou", "hél", "lyo", "nan", "inf", "750"})
}

func BenchmarkSearch_prefix8(b *testing.B) {
	benchSearch(b, []string{"martinez", "lefebvre", "pharmaci", "chirurgi", "infirmie", "cardiolo", "montpell",
		"bordeaux", "fontaine", "rousseau", "chevalie", "toulouse", "kinesith", "pediatri", "gaillard"})
}

func BenchmarkSearch_twoWords(b *testing.B) {
	benchSearch(b, []string{"martin marie", "dupont jean", "médecin lyon", "pharmacien paris", "infirmier nantes",
		"bernard sophie", "cardiologie marseille", "clinique saint", "durand 750", "dentiste bordeaux",
		"robert nath", "centre hospitalier", "moreau lil", "sage-femme rennes", "girard pi"})
}

func BenchmarkSearch_typo(b *testing.B) {
	benchSearch(b, []string{"lefebre", "rouseau", "chevallie", "gailard"})
}

// BenchmarkReadExtraction measures the parser alone (bytes/s of extraction text).
func BenchmarkReadExtraction(b *testing.B) {
	var buf bytes.Buffer
	if err := gen.Write(&buf, 20000, 1); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadExtraction(bytes.NewReader(data), func(Entry) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildIndex measures a whole import of 20,000 rows (read, dedupe, sort, index).
func BenchmarkBuildIndex(b *testing.B) {
	var buf bytes.Buffer
	if err := gen.Write(&buf, 20000, 1); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, strconv.Itoa(i)+".db")
		if _, err := BuildIndex(context.Background(), path, bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
	}
}
