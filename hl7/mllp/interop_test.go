package mllp

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/hl7"
	"github.com/mssante/mssante/internal/testkit"
)

// pythonServer is an MLLP record system written with python-hl7 (Debian python3-hl7, an
// independent implementation): it reads each framed message, answers the ACK python-hl7 builds
// (create_ack, MSA-2 = MSH-10) with the code of argv[1] when the message is an MDM of the volet
// profile, AR otherwise, and prints its port.
const pythonServer = `
import asyncio, sys
import hl7
from hl7.mllp import start_hl7_server

async def handle(reader, writer):
    try:
        while not reader.at_eof():
            msg = await reader.readmessage()
            msh = msg.segment("MSH")
            ok = str(msh[9]).startswith("MDM^") and str(msh[21]) == "1.1^CISIS_CDA_HL7_LPS"
            writer.writemessage(msg.create_ack(sys.argv[1] if ok else "AR", message_id="PY-1"))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()

async def main():
    server = await start_hl7_server(handle, "127.0.0.1", 0, limit=64 << 20, encoding="utf-8")
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
`

func startPythonServer(t *testing.T, code hl7.AckCode) string {
	t.Helper()
	python := testkit.RequireFile(t, "/usr/bin/python3")
	testkit.RequireFile(t, "/usr/lib/python3/dist-packages/hl7/mllp/streams.py") // Debian python3-hl7
	script := filepath.Join(t.TempDir(), "server.py")
	if err := os.WriteFile(script, []byte(pythonServer), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, string(code))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	select {
	case p := <-port:
		if p == "" {
			t.Fatal("python-hl7 server printed no port")
		}
		return "127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatal("python-hl7 server did not start")
	}
	return ""
}

// TestSend_pythonHL7Server: our client talks MLLP to python-hl7's server, which reads the MDM
// we frame and answers an ACK of its own making that we read and match (MSA-2 = MSH-10).
func TestSend_pythonHL7Server(t *testing.T) {
	for _, code := range []hl7.AckCode{hl7.AA, hl7.AE} {
		t.Run(string(code), func(t *testing.T) {
			addr := startPythonServer(t, code)
			c := &Client{AckTimeout: 30 * time.Second}
			for i, id := range []string{"PY-MDM-1", "PY-MDM-2"} {
				ack, err := c.Send(context.Background(), addr, testMDM(t, id))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if ack.Code != code || ack.ControlID != id {
					t.Errorf("message %d: ACK %+v, want %s for %s", i, ack, code, id)
				}
			}
		})
	}
}
