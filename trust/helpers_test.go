package trust

import (
	"encoding/pem"
	"os"
)

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
