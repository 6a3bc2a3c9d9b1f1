package xdm

import (
	"runtime"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read: no panic, limits respected, and allocations bounded by
// the limits whatever the archive declares (zip bombs, lying sizes, path traversal).
func FuzzRead(f *testing.F) {
	valid := validFiles(f)
	good := makeZip(f, valid)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(makeZip(f, with(valid, "../evil", []byte("x"))))
	f.Add(makeZip(f, with(valid, "IHE_XDM/SUBSET01/METADATA.XML", []byte("<a:b><c:RegistryObjectList/></a:b>"))))
	f.Add(makeZip(f, with(valid, "IHE_XDM/SUBSET01/Z.XML", make([]byte, 1<<16))))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	opts := &ReadOptions{MaxTotal: 1 << 20, MaxEntry: 512 << 10, MaxFiles: 64, MaxRatio: 100}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := Read(data, opts)
		runtime.ReadMemStats(&after)
		// Budget: the limits (each entry may be buffered twice while growing) plus parsing
		// overhead proportional to the input and the expanded bytes.
		budget := uint64(4*opts.MaxTotal) + uint64(64*len(data)) + 16<<20
		if used := after.TotalAlloc - before.TotalAlloc; used > budget {
			t.Fatalf("Read allocated %d bytes for a %d-byte input (budget %d)", used, len(data), budget)
		}
		if err != nil && p == nil {
			return
		}
		var total int64
		for _, d := range p.Documents {
			if int64(len(d.Data)) > opts.MaxEntry {
				t.Fatalf("document %s of %d bytes beyond MaxEntry", d.Path, len(d.Data))
			}
			total += int64(len(d.Data))
		}
		if total > opts.MaxTotal {
			t.Fatalf("documents total %d bytes beyond MaxTotal", total)
		}
	})
}

// FuzzParseMetadata feeds arbitrary XML to the tolerant metadata reader: no panic, and a
// result that reads its own patientId back when it has one.
func FuzzParseMetadata(f *testing.F) {
	p, _ := buildArchive(f, "cr-consultation.xml")
	f.Add(p.Metadata())
	f.Add([]byte(`<ns3:SubmitObjectsRequest><RegistryObjectList><RegistryPackage id="s"/></RegistryObjectList></ns3:SubmitObjectsRequest>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte("\xef\xbb\xbf  <a><RegistryObjectList><ExtrinsicObject><Slot name='size'><ValueList><Value>-1</Value></ValueList></Slot></ExtrinsicObject></RegistryObjectList></a>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMetadata(data)
		if err != nil {
			return
		}
		for _, e := range m.entries {
			if e.Size < -1 {
				t.Fatalf("negative size %d", e.Size)
			}
			_ = e.PatientInfo()
		}
	})
}
