package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mssante/mssante/internal/testkit"
)

// contrastJS measures, in the rendered page, every visible text against the background it is
// painted on (the first opaque ancestor background, translucent ones blended over it), with the
// WCAG 2.2 relative luminance and contrast ratio; it returns the texts under their threshold
// (4.5:1, 3:1 for large text: 24 px, or 18.66 px bold). Test code only: the app's own script
// is internal/web/assets/app.js.
const contrastJS = `(() => {
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const blend = (t, b) => ({r: t.r*t.a + b.r*(1-t.a), g: t.g*t.a + b.g*(1-t.a), b: t.b*t.a + b.b*(1-t.a), a: 1});
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v/12.92 : Math.pow((v+0.055)/1.055, 2.4); };
    return 0.2126*f(c.r) + 0.7152*f(c.g) + 0.0722*f(c.b); };
  const ratio = (x, y) => { const a = lum(x), b = lum(y); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const bg = el => { const stack = []; for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { stack.push(c); if (c.a >= 1) break; } }
    let res = {r: 255, g: 255, b: 255, a: 1}; for (let i = stack.length - 1; i >= 0; i--) res = blend(stack[i], res); return res; };
  window.__mssBg = bg; window.__mssRatio = ratio; window.__mssParse = parse;
  const bad = []; let n = 0, lo = 99;
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (w.nextNode()) {
    const t = w.currentNode, el = t.parentElement; if (!t.textContent.trim() || !el) continue;
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || el.closest('.vh, [hidden], script, style')) continue;
    n++;
    const b = bg(el), fg = blend(parse(cs.color), b), q = ratio(fg, b); lo = Math.min(lo, q);
    const size = parseFloat(cs.fontSize), large = size >= 24 || (parseInt(cs.fontWeight) >= 700 && size >= 18.66);
    if (q < (large ? 3 : 4.5)) bad.push(el.tagName.toLowerCase() + '.' + el.className + ' "' + t.textContent.trim().slice(0, 30) + '" ' + q.toFixed(2) + ':1');
  }
  return JSON.stringify({n, lo: +lo.toFixed(2), bad});
})()`

// focusJS describes the focus indicator of the focused element: its outline must be drawn, at
// least 2 px, with a contrast of 3:1 against the background around it (WCAG 2.2 2.4.7, 1.4.11).
const focusJS = `(() => {
  const el = document.activeElement; if (!el || el === document.body) return 'none';
  const cs = getComputedStyle(el), w = parseFloat(cs.outlineWidth);
  const label = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className;
  if (cs.outlineStyle === 'none' || w < 2) return 'bad ' + label + ' outline ' + cs.outlineStyle + ' ' + cs.outlineWidth;
  const around = window.__mssBg(el.parentElement || el), q = window.__mssRatio(window.__mssParse(cs.outlineColor), around);
  return q < 3 ? 'bad ' + label + ' outline contrast ' + q.toFixed(2) : 'ok ' + label;
})()`

// WCAG 2.2 AA contrast (1.4.3, 1.4.11) and visible focus (2.4.7) measured in Debian's chromium
// on the main screens of the web app, as rendered from the embedded stylesheet (issue 10 item 1).
func TestWeb_contrastAndFocus(t *testing.T) {
	testkit.LookPath(t, "chromium")
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	base := s.ready.URL
	ctx := browser(t, 1280, 900)
	webLogin(t, ctx, base, "899700200016")

	measure := func(t *testing.T, page string) {
		t.Helper()
		var res string
		if err := chromedp.Do(ctx, into(&res, chromedp.Evaluate[string](contrastJS))); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		var n int
		var lo float64
		var bad string
		if i := strings.Index(res, `"bad":[`); i >= 0 {
			bad = strings.TrimSuffix(res[i+7:], "]}")
		}
		fmt.Sscanf(strings.TrimPrefix(res, `{"n":`), "%d,\"lo\":%g", &n, &lo)
		if n < 5 {
			t.Errorf("%s: %d texts measured, the page did not render: %s", page, n, res)
		}
		if bad != "" {
			t.Errorf("%s: texts under the WCAG AA contrast ratio: %s", page, bad)
		}
		t.Logf("%s: %d texts measured, lowest contrast %.2f:1", page, n, lo)
		// Keyboard focus: the first tab stops each show a visible indicator.
		shown := 0
		for i := range 12 {
			var f string
			if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab), into(&f, chromedp.Evaluate[string](focusJS))); err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(f, "bad"):
				t.Errorf("%s: tab stop %d: %s", page, i+1, f)
			case strings.HasPrefix(f, "ok"):
				shown++
			}
		}
		if shown < 6 {
			t.Errorf("%s: %d of 12 tab stops reached a focusable element with its indicator", page, shown)
		}
	}
	for _, p := range []struct{ name, path, wait string }{
		{"inbox", "/app/inbox", "#messages"},
		{"compose", "/app/compose", "form"},
		{"patients", "/app/patients", "main"},
	} {
		t.Run(p.name, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait))); err != nil {
				t.Fatal(err)
			}
			measure(t, p.name)
		})
	}
	t.Run("read", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/inbox"), chromedp.WaitVisible(chromedp.CSS(".msg-link")),
			chromedp.Click(chromedp.CSS(".msg-link")), chromedp.WaitVisible(chromedp.ID("mail-subject"))); err != nil {
			t.Fatal(err)
		}
		measure(t, "read")
	})
}
