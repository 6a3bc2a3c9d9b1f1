package pdfa

import (
	"bytes"
	"encoding/binary"
	"math"
)

// srgbProfileName is the OutputConditionIdentifier and description of the embedded profile.
const srgbProfileName = "sRGB IEC61966-2.1"

// srgbICC builds an ICC v2.1 display ("mntr") RGB profile for sRGB (IEC 61966-2-1): media white
// point D65, primaries adapted to the D50 connection space (Bradford), and the sRGB transfer curve
// sampled in a 1024-entry table. The profile is generated rather than shipped as a file so that its
// provenance is plain: every byte comes from the published sRGB constants.
func srgbICC() []byte {
	type tag struct {
		sig  string
		data []byte
	}
	trc := curvTag(1024, srgbToLinear)
	tags := []tag{
		{"desc", descTag(srgbProfileName)},
		{"cprt", textTag("No copyright, use freely")},
		{"wtpt", xyzTag(0.9505, 1.0, 1.0891)},
		{"rXYZ", xyzTag(0.4361, 0.2225, 0.0139)},
		{"gXYZ", xyzTag(0.3851, 0.7169, 0.0971)},
		{"bXYZ", xyzTag(0.1431, 0.0606, 0.7141)},
		{"rTRC", trc},
		{"gTRC", trc},
		{"bTRC", trc},
	}
	const headerLen = 128
	tableLen := 4 + 12*len(tags)
	var body bytes.Buffer
	table := make([]byte, 0, tableLen)
	table = binary.BigEndian.AppendUint32(table, uint32(len(tags)))
	shared := map[*byte]uint32{} // rTRC/gTRC/bTRC share one element
	for _, t := range tags {
		off, ok := shared[&t.data[0]]
		if !ok {
			for body.Len()%4 != 0 {
				body.WriteByte(0)
			}
			off = uint32(headerLen + tableLen + body.Len())
			body.Write(t.data)
			shared[&t.data[0]] = off
		}
		table = append(table, t.sig...)
		table = binary.BigEndian.AppendUint32(table, off)
		table = binary.BigEndian.AppendUint32(table, uint32(len(t.data)))
	}
	for body.Len()%4 != 0 {
		body.WriteByte(0)
	}
	size := headerLen + tableLen + body.Len()

	h := make([]byte, headerLen)
	binary.BigEndian.PutUint32(h[0:], uint32(size))
	binary.BigEndian.PutUint32(h[8:], 0x02100000) // version 2.1.0
	copy(h[12:], "mntr")
	copy(h[16:], "RGB ")
	copy(h[20:], "XYZ ")
	for i, v := range []uint16{2026, 1, 1, 0, 0, 0} { // creation date, fixed for reproducibility
		binary.BigEndian.PutUint16(h[24+2*i:], v)
	}
	copy(h[36:], "acsp")
	binary.BigEndian.PutUint32(h[64:], 0) // perceptual rendering intent
	putS15(h[68:], 0.9642)                // PCS illuminant D50
	putS15(h[72:], 1.0)
	putS15(h[76:], 0.8249)

	out := make([]byte, 0, size)
	out = append(out, h...)
	out = append(out, table...)
	return append(out, body.Bytes()...)
}

// srgbToLinear is the sRGB electro-optical transfer function (IEC 61966-2-1).
func srgbToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func putS15(b []byte, v float64) {
	binary.BigEndian.PutUint32(b, uint32(int32(math.Round(v*65536))))
}

func xyzTag(x, y, z float64) []byte {
	b := make([]byte, 20)
	copy(b, "XYZ ")
	putS15(b[8:], x)
	putS15(b[12:], y)
	putS15(b[16:], z)
	return b
}

func curvTag(n int, f func(float64) float64) []byte {
	b := make([]byte, 12, 12+2*n)
	copy(b, "curv")
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	for i := range n {
		v := f(float64(i) / float64(n-1))
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(v*65535)))
	}
	return b
}

// descTag is an ICC v2 textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
func descTag(s string) []byte {
	b := make([]byte, 8, 8+4+len(s)+1+8+3+67)
	copy(b, "desc")
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)+1))
	b = append(b, s...)
	b = append(b, 0)
	b = append(b, make([]byte, 4+4+2+1+67)...) // unicode lang+count, scriptcode code+count+67 bytes
	return b
}

func textTag(s string) []byte {
	b := make([]byte, 8, 8+len(s)+1)
	copy(b, "text")
	b = append(b, s...)
	return append(b, 0)
}
