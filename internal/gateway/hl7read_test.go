package gateway

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

// pyReadMDM reads an MDM file with python-hl7 (Debian python3-hl7), the independent HL7 v2
// parser, and gives the fields issue 13 item 4 names, the CDA of OBX 1 and the mail body of
// OBX 2 decoded from base64.
const pyReadMDM = `
import base64, json, sys
import hl7
m = hl7.parse(open(sys.argv[1], encoding="utf-8", newline="").read())
def get(key):
    try:
        return str(m[key])
    except (IndexError, KeyError):
        return ""
msh = m.segment("MSH")
json.dump({"msh9": str(msh[9]), "msh12": str(msh[12]), "msh21": str(msh[21]),
    "pid3": get("PID.F3.R1.C1"), "txa12": get("TXA.F12.R1.C1"), "obx1type": get("OBX.F2"),
    "cda": base64.b64decode(m["OBX.F5.R1.C5"], validate=True).decode("utf-8"),
    "body": base64.b64decode(m["OBX2.F5.R1.C5"], validate=True).decode("utf-8")}, sys.stdout)
`

type pyMDM struct {
	MSH9, MSH12, MSH21, PID3, TXA12, OBX1Type, CDA, Body string
}

// readMDMFiles returns the MDM files of dir read by python-hl7.
func readMDMFiles(t *testing.T, dir string) []pyMDM {
	t.Helper()
	python := testkit.RequireFile(t, "/usr/bin/python3")
	files, _ := filepath.Glob(filepath.Join(dir, "*.hl7"))
	var out []pyMDM
	for _, f := range files {
		b, err := exec.Command(python, "-c", pyReadMDM, f).CombinedOutput()
		if err != nil {
			t.Fatalf("python-hl7 on %s: %v\n%s", filepath.Base(f), err, b)
		}
		var raw map[string]string
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("python-hl7 on %s: %v\n%s", filepath.Base(f), err, b)
		}
		out = append(out, pyMDM{MSH9: raw["msh9"], MSH12: raw["msh12"], MSH21: raw["msh21"], PID3: raw["pid3"],
			TXA12: raw["txa12"], OBX1Type: raw["obx1type"], CDA: raw["cda"], Body: raw["body"]})
	}
	return out
}
