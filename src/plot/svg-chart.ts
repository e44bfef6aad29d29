/**
 * Line charts as SVG text (no plotting dependency): panels of series over a shared x axis, with
 * axes, ticks and a legend. `metrics-plot.ts` renders them to PNG with sharp.
 */
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  series: Series[];
  /** a logarithmic y axis (values <= 0 are left out) */
  logY?: boolean;
}

const W = 560,
  H = 300,
  M = { left: 64, right: 16, top: 30, bottom: 44 };

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(v));
/** Text made safe inside SVG/XML elements and attributes. */
export const escapeXml = (s: string) =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

function panelSvg(p: Panel, ox: number, oy: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0));
  if (pts.length === 0)
    return `<text x="${ox + W / 2}" y="${oy + H / 2}" text-anchor="middle" font-size="13">${escapeXml(p.title)}: no data yet</text>`;
  const ty = (y: number) => (p.logY ? Math.log10(y) : y);
  let [x0, x1] = [Math.min(...pts.map((q) => q[0])), Math.max(...pts.map((q) => q[0]))];
  let [y0, y1] = [Math.min(...pts.map((q) => ty(q[1]))), Math.max(...pts.map((q) => ty(q[1])))];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x: number) => ox + M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number) => oy + H - M.bottom - ((ty(y) - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<text x="${ox + W / 2}" y="${oy + 18}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`,
    `<rect x="${ox + M.left}" y="${oy + M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
    `<text x="${ox + W / 2}" y="${oy + H - 8}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`,
  ];
  for (const t of niceTicks(x0, x1))
    parts.push(`<text x="${px(t)}" y="${oy + H - M.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    const y = oy + H - M.bottom - ((t - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    parts.push(`<line x1="${ox + M.left}" x2="${ox + W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${ox + M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${p.logY ? fmt(Number((10 ** t).toPrecision(2))) : fmt(t)}</text>`,
    );
  }
  p.series.forEach((s, k) => {
    const line = s.points
      .filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    if (line)
      parts.push(
        `<polyline points="${line}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
      );
    const ly = oy + M.top + 14 + 15 * k;
    parts.push(
      `<line x1="${ox + W - 150}" x2="${ox + W - 130}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${ox + W - 125}" y="${ly}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** Panels in a grid of `columns`, on a white background. */
export function chartSvg(panels: Panel[], columns = 2): { svg: string; width: number; height: number } {
  const cols = Math.min(columns, panels.length),
    rows = Math.ceil(panels.length / cols);
  const width = cols * W,
    height = rows * H;
  const body = panels.map((p, i) => panelSvg(p, (i % cols) * W, Math.floor(i / cols) * H)).join('\n');
  return {
    svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>`,
    width,
    height,
  };
}
