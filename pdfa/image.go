package pdfa

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // N1 bodies in image/jpeg
	_ "image/png"  // N1 bodies in image/png
	"strings"

	_ "golang.org/x/image/tiff" // N1 bodies in image/tiff (first page)
)

// maxImagePixels bounds the decoded size of an embedded image (a decompression bomb guard).
const maxImagePixels = 30_000_000 // an A4 page scanned at 600 dpi is about 35 M; at 300 dpi, 8.7 M

// pdfImage is an image XObject: either the JPEG as received (DCTDecode) or decoded RGB samples.
type pdfImage struct {
	width, height int
	colorSpace    string // DeviceRGB or DeviceGray
	jpeg          []byte // the original JPEG, shown with DCTDecode
	samples       []byte // 8-bit samples, compressed with FlateDecode
}

// isImage reports whether an N1 media type is an image this package can lay out.
func isImage(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "image/jpeg", "image/jpg", "image/png", "image/tiff":
		return true
	}
	return false
}

// decodeImage prepares an image for PDF/A-1: a baseline or progressive JPEG in YCbCr or grey is
// kept as it is; anything else (CMYK JPEG, PNG, TIFF) is decoded to RGB, transparency composited
// on white (PDF/A-1 forbids soft masks).
func decodeImage(data []byte) (*pdfImage, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("image of %d×%d pixels not supported", cfg.Width, cfg.Height)
	}
	if format == "jpeg" {
		switch cfg.ColorModel {
		case color.YCbCrModel, color.RGBAModel:
			return &pdfImage{width: cfg.Width, height: cfg.Height, colorSpace: "DeviceRGB", jpeg: data}, nil
		case color.GrayModel:
			return &pdfImage{width: cfg.Width, height: cfg.Height, colorSpace: "DeviceGray", jpeg: data}, nil
		}
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	b := img.Bounds()
	samples := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			white := 0xFFFF - a // premultiplied colour over a white page
			samples = append(samples, byte((r+white)>>8), byte((g+white)>>8), byte((bl+white)>>8))
		}
	}
	return &pdfImage{width: b.Dx(), height: b.Dy(), colorSpace: "DeviceRGB", samples: samples}, nil
}

// dict returns the XObject dictionary entries of the image (without /Length and /Filter for the
// samples, which pdfWriter.stream adds).
func (im *pdfImage) dict() string {
	d := fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8",
		im.width, im.height, im.colorSpace)
	if im.jpeg != nil {
		d += " /Filter /DCTDecode"
	}
	return d
}

// image lays out an image at the full content width (or less, to fit a page), on a new page when
// less than a third of the page remains.
func (l *layout) image(im *pdfImage) {
	w := contentWidth
	h := w * float64(im.height) / float64(im.width)
	room := pageHeight - marginTop - marginBottom
	if h > room {
		h, w = room, room*float64(im.width)/float64(im.height)
	}
	if l.y-h < marginBottom && l.y-marginBottom < room/3 {
		l.newPage()
	} else if l.y-h < marginBottom {
		h = l.y - marginBottom
		w = h * float64(im.width) / float64(im.height)
	}
	l.images = append(l.images, im)
	p := l.cur()
	name := fmt.Sprintf("Im%d", len(l.images)-1)
	p.images = append(p.images, len(l.images)-1)
	fmt.Fprintf(&p.ops, "q %s 0 0 %s %s %s cm /%s Do Q\n", num(w), num(h), num(marginLeft), num(l.y-h), name)
	l.y -= h + 6
}
