package hl7

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/testkit"
)

// readBack is run by Debian's python3 with python-hl7 (package python3-hl7, an independent
// HL7 v2 parser): it reads the message file and prints the fields issue 13 names as JSON, the
// base64 payloads of OBX 1 and OBX 2 decoded (the CDA as a SHA-256, the mail body as text).
const readBack = `
import base64, hashlib, json, sys
import hl7
m = hl7.parse(open(sys.argv[1], encoding="utf-8", newline="").read())
msh = m.segment("MSH")
pid = m.segment("PID")
def get(key):
    try:
        return m[key]
    except (IndexError, KeyError):  # python-hl7 raises past a leaf or an absent segment
        return ""
def comps(key, n):
    return [get(key + ".C%d" % c) for c in range(1, n + 1)]
def cx(r):
    k = "PID.F3.R%d" % r
    return [get(k + ".C1"), get(k + ".C4.S1"), get(k + ".C4.S2"), get(k + ".C4.S3"), get(k + ".C5")]
obx = []
for i, s in enumerate(m.segments("OBX")):
    k = "OBX%d" % (i + 1) if i else "OBX"
    obx.append({"set": m[k + ".F1"], "type": m[k + ".F2"], "id": comps(k + ".F3.R1", 3),
                "value": comps(k + ".F5.R1", 4), "status": get(k + ".F11")})
cda = base64.b64decode(m["OBX.F5.R1.C5"], validate=True)
body = base64.b64decode(m["OBX2.F5.R1.C5"], validate=True)
prt = []
for i, s in enumerate(m.segments("PRT")):
    k = "PRT%d" % (i + 1) if i else "PRT"
    prt.append([get(k + ".F4.R1.C1"), get(k + ".F4.R1.C3"), get(k + ".F15.R1.C3"), get(k + ".F15.R1.C4"), get(k + ".F5.R1.C1")])
json.dump({
    "msh9": str(msh[9]), "msh12": str(msh[12]), "msh21": str(msh[21]), "msh10": str(msh[10]),
    "pid3": [cx(r + 1) for r in range(len(pid[3]))],
    "txa12": comps("TXA.F12.R1", 4), "txa13": comps("TXA.F13.R1", 4),
    "obx": obx, "cda_sha256": hashlib.sha256(cda).hexdigest(), "body": body.decode("utf-8"),
    "prt": prt,
}, sys.stdout)
`

type pythonView struct {
	MSH9, MSH12, MSH21, MSH10 string
	PID3                      [][]string
	TXA12, TXA13              []string
	OBX                       []struct {
		Set, Type string
		ID, Value []string
		Status    string
	}
	CDASHA256 string `json:"cda_sha256"`
	Body      string
	PRT       [][]string
}

// TestBuildMDM_readByPythonHL7 is the independent check of issue 13 item 4: python-hl7 reads
// the MDM we write, with MSH-9, MSH-12, MSH-21, PID-3 (= recordTarget/patientRole/id), TXA-12,
// OBX-2/OBX-5 (the CDA bytes back from base64) and PRT-4 as the volet fixes them.
func TestBuildMDM_readByPythonHL7(t *testing.T) {
	python := testkit.RequireFile(t, "/usr/bin/python3")
	testkit.RequireFile(t, "/usr/lib/python3/dist-packages/hl7/__init__.py") // Debian python3-hl7
	paths := append([]string{}, fixtures...)
	if dir := sharedCorpus(); dir != "" {
		for _, name := range []string{"IMG_CR_IMG_2024.01.xml", "BIO-CR-BIO_2024.01_TSH_1.xml", "DOC_NON_STRUCTURE_CDA-R2-N1.xml"} {
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	script := filepath.Join(t.TempDir(), "readback.py")
	if err := os.WriteFile(script, []byte(readBack), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, h := readFixture(t, path)
			_, out := build(t, data, h)
			file := filepath.Join(t.TempDir(), "mdm.hl7")
			if err := os.WriteFile(file, out, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(python, script, file)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("python3 hl7: %v\n%s", err, stderr(err))
			}
			var v pythonView
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("python output %q: %v", got, err)
			}
			checkPython(t, v, data, h)
		})
	}
}

func checkPython(t *testing.T, v pythonView, data []byte, h *cda.Document) {
	t.Helper()
	ev := EventOf(h)
	if v.MSH9 != "MDM^"+string(ev)+"^MDM_T02" || v.MSH12 != "2.6" || v.MSH21 != "1.1^CISIS_CDA_HL7_LPS" || v.MSH10 != "MSG-0001" {
		t.Errorf("MSH-9/12/21/10 = %q %q %q %q", v.MSH9, v.MSH12, v.MSH21, v.MSH10)
	}
	var want [][]string
	for _, id := range h.Patient.IDs {
		if id.Extension == "" {
			continue
		}
		ns, typ := "", "PI"
		if n, ok := insNamespaces[insOID(id.Root)]; ok {
			ns, typ = n, "INS"
		}
		want = append(want, []string{id.Extension, ns, id.Root, "ISO", typ})
	}
	if fmt.Sprint(v.PID3) != fmt.Sprint(want) {
		t.Errorf("PID-3 = %q, want %q", v.PID3, want)
	}
	if w := eiParts(h.ID); fmt.Sprint(v.TXA12) != fmt.Sprint(w) {
		t.Errorf("TXA-12 = %q, want %q", v.TXA12, w)
	}
	if parent, ok := h.Replaces(); ok && fmt.Sprint(v.TXA13) != fmt.Sprint(eiParts(parent)) {
		t.Errorf("TXA-13 = %q, want %q", v.TXA13, eiParts(parent))
	}
	if len(v.OBX) != 6 {
		t.Fatalf("%d OBX", len(v.OBX))
	}
	status := map[Event]string{EventOriginal: "F", EventReplace: "C"}[ev]
	if o := v.OBX[0]; o.Set != "1" || o.Type != "ED" || o.ID[0] != h.Code.Code || fmt.Sprint(o.Value) != "[ text XML Base64]" || o.Status != status {
		t.Errorf("OBX 1 = %+v", o)
	}
	sum := sha256.Sum256(data)
	if v.CDASHA256 != hex.EncodeToString(sum[:]) {
		t.Error("OBX 1 OBX-5 decoded by python is not the CDA")
	}
	mail := testMail()
	if o := v.OBX[1]; o.Set != "2" || o.Type != "ED" || o.ID[0] != mail.MessageID || o.ID[1] != mail.Subject || o.Status != "F" || v.Body != mail.Body {
		t.Errorf("OBX 2 = %+v, body %q", o, v.Body)
	}
	wantPRT := "[[SB participation X.400 jeanne.essai@hopital.essai.mssante.fr 899700200016] " +
		"[RCT participation X.400 dpi@ch-essai.mssante.fr ] [RCT participation X.400 paul.fictif@ch-essai.mssante.fr ] " +
		"[REPLY participation X.400 secretariat@hopital.essai.mssante.fr ]]"
	if fmt.Sprint(v.PRT) != wantPRT {
		t.Errorf("PRT = %q\nwant %s", v.PRT, wantPRT)
	}
}

func eiParts(id cda.II) []string {
	if id.Extension == "" {
		return []string{id.Root, "", "", ""}
	}
	return []string{id.Extension, "", id.Root, "ISO"}
}

// sharedCorpus is ../shared/corpus/cda when present ("" otherwise; TestBuildMDM_corpus is the
// test that requires it).
func sharedCorpus() string {
	root, err := filepath.Abs("..")
	if err != nil {
		return ""
	}
	dir := filepath.Join(root, "..", "shared", "corpus", "cda")
	if env := os.Getenv("MSSANTE_SHARED"); env != "" {
		dir = filepath.Join(env, "corpus", "cda")
	}
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
