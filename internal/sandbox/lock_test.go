package sandbox

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// A second sandbox on a running sandbox's data directory is refused with ErrRunning, whatever
// its ports, before touching anything; the directory is free again once the first one stops.
// (QA issue 5: the second start used to fail on "address already in use" of the revocation
// endpoint, or, with other ports, to share the mail store.)
func TestStart_secondOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	free := "127.0.0.1:0"
	_, err := Start(context.Background(), Options{DataDir: dir, IMAPAddr: free, SMTPAddr: free, HTTPSAddr: free, PSCAddr: free})
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start on %s: %v, want ErrRunning", dir, err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("error %q does not name the directory and the way out", err)
	}
	env, err := EnvOf(dir)
	if err != nil || env.IMAP != w.Config.IMAP {
		t.Errorf("refused start changed sandbox.json: %v, imap %v want %s", err, env, w.Config.IMAP)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2 := startWorld(t, dir, false)
	if w2.Config.IMAP != w.Config.IMAP {
		t.Errorf("restart on %s, want %s", w2.Config.IMAP, w.Config.IMAP)
	}
}

// A port held by another program gives an error naming the flag that moves it.
func TestStart_portInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	free := "127.0.0.1:0"
	_, err = Start(context.Background(), Options{DataDir: t.TempDir(), IMAPAddr: ln.Addr().String(),
		SMTPAddr: free, HTTPSAddr: free, HTTPAddr: free, PSCAddr: free})
	if err == nil || !strings.Contains(err.Error(), "--imap") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("IMAP port in use: %v, want a hint naming --imap and the address", err)
	}
}
