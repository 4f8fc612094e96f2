// WCAG 2.1 contrast in the page as the browser renders it, for the browser
// tests. `contrastOf(el)`: the text's colour against the background it sits
// on (ancestors' background colours, composited, white at the root).
// `pageContrast(selectors)`: every rendered element with text of its own
// (and every form control), and which of `selectors` were among them.
// `focusOf()`: how the focused element shows its focus.
const parse = (c) => {
  const m = /rgba?\(([^)]+)\)/.exec(c || "");
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
const background = (el) => {
  const layers = [];
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) {
      layers.push(c);
      if (c[3] >= 1) break;
    }
  }
  return layers.reverse().reduce((under, l) => over(l, under), [255, 255, 255, 1]);
};
const luminance = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
const ownText = (el) => {
  if (el.matches("input, select, textarea")) return el.value || el.getAttribute("placeholder") || el.tagName;
  return [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
};
const describe = (el) =>
  el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.classList.length ? "." + [...el.classList].join(".") : "");
const contrastOf = (el) => {
  const s = getComputedStyle(el);
  const bg = background(el);
  const raw = parse(el instanceof SVGElement ? s.fill : s.color);
  if (!raw) return null;
  let fg = over(raw, bg);
  let under = bg;
  // A translucent element (or ancestor) lets what is behind it through both its text and its background.
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const o = parseFloat(getComputedStyle(e).opacity);
    if (o < 1) {
      const behind = background(e.parentElement);
      fg = over([...fg.slice(0, 3), o], behind);
      under = over([...under.slice(0, 3), o], behind);
    }
  }
  const size = parseFloat(s.fontSize);
  // Large text: 18pt, or 14pt bold.
  const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
  const need = large ? 3 : 4.5;
  const r = ratio(fg, under);
  return { element: describe(el), text: ownText(el).slice(0, 50), fg: hex(fg), bg: hex(under),
           ratio: Math.round(r * 100) / 100, need, ok: r >= need };
};
const rendered = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility === "visible";
// A chart's text is measured against the white of the chart, but is wrong
// where it is cut off at the chart's edge or drawn over a bar.
const chartText = () => [...document.querySelectorAll("svg text")].flatMap((t) => {
  const r = t.getBoundingClientRect();
  const svg = t.ownerSVGElement;
  const box = svg.getBoundingClientRect();
  const found = { element: describe(t), text: t.textContent.slice(0, 50), ratio: 0, need: 4.5, ok: false };
  if (r.left < box.left - 1 || r.right > box.right + 1) return [{ ...found, problem: "cut off at the chart's edge" }];
  const middle = (r.top + r.bottom) / 2;
  return [...svg.querySelectorAll("rect")].flatMap((bar) => {
    const b = bar.getBoundingClientRect();
    if (!(r.left < b.right - 1 && b.left < r.right - 1 && b.top < middle && middle < b.bottom)) return [];
    const fg = parse(getComputedStyle(t).fill);
    const bg = parse(getComputedStyle(bar).fill);
    const ratioOver = Math.round(ratio(fg, bg) * 100) / 100;
    return ratioOver >= 4.5 ? [] : [{ ...found, fg: hex(fg), bg: hex(bg) + " (a bar)", ratio: ratioOver }];
  });
});
const pageContrast = (selectors) => {
  const checked = [...document.body.querySelectorAll("*")].filter(
    (el) => !el.closest("option, script, style, title, noscript") && rendered(el) &&
      (el.matches("input:not([type=hidden]):not([type=file]), select, textarea") || /\S/.test(ownText(el))));
  const results = checked.map(contrastOf).filter(Boolean);
  return {
    checked: results.length,
    failures: results.filter((r) => !r.ok).concat(chartText()),
    missing: selectors.filter((sel) => !checked.some((el) => el.matches(sel))),
  };
};
// The focus indicator: an outline (its colour against what lies just outside
// the element, where the outline is drawn) or a box shadow; and the text's
// contrast in the focused state.
const focusOf = () => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const width = parseFloat(s.outlineWidth) || 0;
  const outline = s.outlineStyle !== "none" && width > 0;
  const shadow = s.boxShadow !== "none";
  let ring = null;
  if (outline) {
    const rect = el.getBoundingClientRect();
    const gap = (parseFloat(s.outlineOffset) || 0) + width / 2;
    const points = [[rect.left - gap, rect.top + rect.height / 2], [rect.right + gap, rect.top + rect.height / 2],
                    [rect.left + rect.width / 2, rect.top - gap], [rect.left + rect.width / 2, rect.bottom + gap]];
    let around = null;
    for (const [x, y] of points) {
      if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
      around = document.elementsFromPoint(x, y).find((e) => e !== el && !el.contains(e));
      if (around) break;
    }
    const bg = background(around || el.parentElement);
    const colour = over(parse(s.outlineColor), bg);
    const r = ratio(colour, bg);
    ring = { colour: hex(colour), around: hex(bg), ratio: Math.round(r * 100) / 100, ok: r >= 3 };
  }
  return { element: describe(el), text: (el.innerText || el.value || "").trim().slice(0, 50),
           href: el.getAttribute("href"), visible: outline || shadow, outline: s.outline,
           boxShadow: s.boxShadow, ring, text_contrast: /\S/.test(el.innerText || "") ? contrastOf(el) : null };
};
