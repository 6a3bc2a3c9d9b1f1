package sandbox

import (
	"context"
	"testing"
)

// BenchmarkStart_first measures a first start: PKI generation (five RSA 2048 keys), seed files,
// and the seed mails composed (XDM + PDF/A) and submitted over SMTP. Run with
// go test ./internal/sandbox -run '^$' -bench Start -benchtime 5x
func BenchmarkStart_first(b *testing.B) {
	for b.Loop() {
		any := "127.0.0.1:0"
		w, err := Start(context.Background(), Options{DataDir: b.TempDir(), IMAPAddr: any, SMTPAddr: any,
			HTTPSAddr: any, HTTPAddr: any, PSCAddr: any})
		if err != nil {
			b.Fatal(err)
		}
		_ = w.Close()
	}
}

// BenchmarkStart_restart measures a start on an existing data directory (PKI and mail reloaded).
func BenchmarkStart_restart(b *testing.B) {
	dir := b.TempDir()
	any := "127.0.0.1:0"
	w, err := Start(context.Background(), Options{DataDir: dir, IMAPAddr: any, SMTPAddr: any,
		HTTPSAddr: any, HTTPAddr: any, PSCAddr: any})
	if err != nil {
		b.Fatal(err)
	}
	_ = w.Close()
	for b.Loop() {
		w, err := Start(context.Background(), Options{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		_ = w.Close()
	}
}
