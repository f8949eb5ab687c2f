// A hand-written SVG of a bench/routers.mjs report: bars of KP CPU per pair for each profile
// (new connection per request at 1 and 16 pairs at a time; the whisker is the range over
// rounds), and /key p50/p99 against offered open-loop load. No dependency.

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const COLOURS = { 'fresh 1': '#4878a8', 'fresh 16': '#e0a030', 'keepalive 32': '#60a060' };

function bars(report, x0, y0, w, h) {
  const labels = Object.keys(report.rows);
  const phases = Object.keys(COLOURS);
  const all = labels.flatMap((l) =>
    Object.values(report.rows[l])
      .flat()
      .map((r) => r.cpuMsPerPair),
  );
  const max = Math.max(...all, 0.1) * 1.1;
  const y = (v) => y0 + h - (v / max) * h;
  const slot = w / labels.length;
  const bw = (slot * 0.8) / phases.length;
  const out = [
    `<text x="${x0}" y="${y0 - 10}" font-size="14">KP CPU per pair, ms (alice + bob; bare: both bare servers)</text>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    out.push(
      `<line x1="${x0}" x2="${x0 + w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${x0 - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(1)}</text>`,
    );
  }
  labels.forEach((label, i) => {
    phases.forEach((phase, j) => {
      const rs = report.rows[label][phase];
      if (!rs) return;
      const vs = rs.map((r) => r.cpuMsPerPair);
      const lo = Math.min(...vs);
      const hi = Math.max(...vs);
      const bx = x0 + i * slot + slot * 0.1 + j * bw;
      out.push(
        `<rect x="${bx}" y="${y(hi)}" width="${bw - 2}" height="${y0 + h - y(hi)}" fill="${COLOURS[phase]}"><title>${esc(`${label} ${phase}: ${lo}-${hi} ms`)}</title></rect>`,
        `<line x1="${bx + bw / 2 - 1}" x2="${bx + bw / 2 - 1}" y1="${y(lo)}" y2="${y(hi)}" stroke="#000"/>`,
        `<text x="${bx + bw / 2 - 1}" y="${y(hi) - 3}" font-size="9" text-anchor="middle">${hi}</text>`,
      );
    });
    const words = label.split(' ');
    const half = Math.ceil(words.length / 2);
    [words.slice(0, half).join(' '), words.slice(half).join(' ')].forEach((line, k) =>
      out.push(
        `<text x="${x0 + i * slot + slot / 2}" y="${y0 + h + 14 + k * 12}" font-size="10" text-anchor="middle">${esc(line)}</text>`,
      ),
    );
  });
  phases.forEach((phase, j) =>
    out.push(
      `<rect x="${x0 + w - 260 + j * 90}" y="${y0 - 24}" width="10" height="10" fill="${COLOURS[phase]}"/>`,
      `<text x="${x0 + w - 246 + j * 90}" y="${y0 - 15}" font-size="10">${phase}</text>`,
    ),
  );
  return out;
}

function lines(report, x0, y0, w, h) {
  const series = Object.entries(report.load).flatMap(([label, xs]) => [
    { name: `${label} p50`, pts: xs.map((x) => [x.offered, x.p50]), dash: '' },
    { name: `${label} p99`, pts: xs.map((x) => [x.offered, x.p99]), dash: '4 3' },
  ]);
  const ys = series.flatMap((s) => s.pts.map((p) => p[1])).filter(Number.isFinite);
  const xs = series.flatMap((s) => s.pts.map((p) => p[0]));
  const maxY = Math.max(...ys, 10) * 1.1;
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const X = (v) => x0 + ((v - minX) / Math.max(maxX - minX, 1)) * w;
  const Y = (v) => y0 + h - (Math.min(v, maxY) / maxY) * h;
  const colours = ['#4878a8', '#4878a8', '#c04040', '#c04040'];
  const out = [
    `<text x="${x0}" y="${y0 - 10}" font-size="14">/key latency, ms, against offered load (pairs/s, open loop, new connection per request)</text>`,
    `<line x1="${x0}" x2="${x0 + w}" y1="${Y(10)}" y2="${Y(10)}" stroke="#c00" stroke-dasharray="2 2"/>`,
    `<text x="${x0 + w + 4}" y="${Y(10) + 4}" font-size="10" fill="#c00">10 ms</text>`,
  ];
  for (const v of [...new Set(xs)])
    out.push(`<text x="${X(v)}" y="${y0 + h + 14}" font-size="10" text-anchor="middle">${v}</text>`);
  for (let t = 0; t <= 4; t++) {
    const v = (maxY * t) / 4;
    out.push(
      `<line x1="${x0}" x2="${x0 + w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`,
      `<text x="${x0 - 6}" y="${Y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(0)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const d = s.pts.map(([a, b], k) => `${k ? 'L' : 'M'}${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${colours[i % 4]}" stroke-width="2" stroke-dasharray="${s.dash}"/>`,
      `<text x="${x0 + 10}" y="${y0 + 14 + i * 13}" font-size="10" fill="${colours[i % 4]}">${esc(s.name)}${s.dash ? ' (dashed)' : ''}</text>`,
    );
  });
  return out;
}

/** The SVG text of a routers report. */
export function svgReport(report) {
  const W = 960;
  const H = 640;
  const body = [
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="20" y="22" font-size="12">${esc(`skip-server router profiles: ${report.machine}; KPs on ${report.kpNode}; ${report.rounds} round(s)`)}</text>`,
    ...bars(report, 60, 70, 860, 280),
    ...(Object.keys(report.load).length ? lines(report, 60, 420, 820, 170) : []),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n${body.join('\n')}\n</svg>\n`;
}
