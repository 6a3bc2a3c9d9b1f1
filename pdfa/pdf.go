package pdfa

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// pdfWriter writes a PDF 1.4 file object by object: numbers are reserved first (so that objects
// can refer forward), bodies are written once, and finish adds the cross-reference table and a
// trailer whose /ID is a hash of everything written before it (PDF/A-1 §6.1.3).
type pdfWriter struct {
	buf     bytes.Buffer
	offsets []int // offsets[n-1] is the byte offset of object n; -1 until written
	zbuf    bytes.Buffer
	zw      *zlib.Writer // reused: a flate writer allocates about 1 MB
}

func newPDFWriter() *pdfWriter {
	w := &pdfWriter{}
	// PDF/A-1 §6.1.2: the header line is followed by a comment of at least four bytes >= 128.
	w.buf.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	return w
}

// alloc reserves an object number.
func (w *pdfWriter) alloc() int {
	w.offsets = append(w.offsets, -1)
	return len(w.offsets)
}

// object writes the dictionary (or other direct value) body as object n.
func (w *pdfWriter) object(n int, body string) {
	w.offsets[n-1] = w.buf.Len()
	fmt.Fprintf(&w.buf, "%d 0 obj\n%s\nendobj\n", n, body)
}

// stream writes a stream object n. dict holds the entries without /Length and /Filter; compress
// applies FlateDecode (never for the XMP metadata stream, PDF/A-1 §6.7.2).
func (w *pdfWriter) stream(n int, dict string, data []byte, compress bool) {
	filter := ""
	if compress {
		w.zbuf.Reset()
		if w.zw == nil {
			w.zw, _ = zlib.NewWriterLevel(&w.zbuf, zlib.DefaultCompression) // the level is valid
		} else {
			w.zw.Reset(&w.zbuf)
		}
		w.zw.Write(data) // writes to a bytes.Buffer do not fail
		w.zw.Close()
		data = w.zbuf.Bytes()
		filter = " /Filter /FlateDecode"
	}
	w.offsets[n-1] = w.buf.Len()
	fmt.Fprintf(&w.buf, "%d 0 obj\n<< %s /Length %d%s >>\nstream\n", n, dict, len(data), filter)
	w.buf.Write(data)
	w.buf.WriteString("\nendstream\nendobj\n")
}

// finish writes the xref table and the trailer and returns the file.
func (w *pdfWriter) finish(root, info int) []byte {
	sum := md5.Sum(w.buf.Bytes())
	id := fmt.Sprintf("<%X>", sum[:])
	xref := w.buf.Len()
	fmt.Fprintf(&w.buf, "xref\n0 %d\n0000000000 65535 f \n", len(w.offsets)+1)
	for _, off := range w.offsets {
		fmt.Fprintf(&w.buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&w.buf, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [%s %s] >>\nstartxref\n%d\n%%%%EOF\n",
		len(w.offsets)+1, root, info, id, id, xref)
	return w.buf.Bytes()
}

// ref formats an indirect reference.
func ref(n int) string { return fmt.Sprintf("%d 0 R", n) }

// textString encodes s as a PDF text string: a literal string when s is printable ASCII, else
// UTF-16BE with a byte order mark, in hexadecimal (PDF 1.4 §3.8.1).
func textString(s string) string {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r > 0x7E {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

// pdfDate formats t as a PDF date with its UTC offset: D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(t time.Time) string {
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("D:%s%c%02d'%02d'", t.Format("20060102150405"), sign, off/3600, off/60%60)
}

// xmpDate formats t as an XMP (ISO 8601) date with the same offset as pdfDate.
func xmpDate(t time.Time) string {
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%s%c%02d:%02d", t.Format("2006-01-02T15:04:05"), sign, off/3600, off/60%60)
}
