// A partner's accepted / rejected / expired leads per day as an SVG bar chart, drawn on the server from the
// reports' read model. A small builder rather than a charting library: one chart kind, plain SVG, no fonts,
// scripts or outside references, every text escaped.
import type { PerformanceReport } from '../http';
import { performanceReport } from './performance';

const DAY_MS = 86_400_000;
const SERIES = [
  { key: 'accepted', color: '#2b7a3d' },
  { key: 'rejected', color: '#b3261e' },
  { key: 'expired', color: '#9e9e9e' },
] as const;

export interface DayCounts {
  day: string;
  accepted: number;
  rejected: number;
  expired: number;
}

const escapeXml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );

/** Stacked bars, one per day; the y axis from 0 to the largest day, with its value written at the top. */
export function renderDailyChart(title: string, days: DayCounts[]): string {
  const width = 640;
  const height = 240;
  const left = 40;
  const top = 30;
  const bottom = 30;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...days.map((d) => d.accepted + d.rejected + d.expired));
  const slot = (width - left - 10) / Math.max(1, days.length);
  const bars = days.flatMap((d, i) => {
    let y = top + plotH;
    return SERIES.filter((s) => d[s.key] > 0).map((s) => {
      const h = (d[s.key] / max) * plotH;
      y -= h;
      return `<rect x="${(left + i * slot + slot * 0.1).toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${d.day} ${s.key}: ${d[s.key]}`)}</title></rect>`;
    });
  });
  const labels = days.length
    ? [days[0], days[days.length - 1]].map(
        (d, i) =>
          `<text x="${i ? width - 10 : left}" y="${height - 10}" font-size="11" text-anchor="${i ? 'end' : 'start'}">${escapeXml(d?.day ?? '')}</text>`,
      )
    : [];
  const legend = SERIES.map(
    (s, i) =>
      `<rect x="${width - 250 + i * 80}" y="8" width="10" height="10" fill="${s.color}"/><text x="${width - 236 + i * 80}" y="17" font-size="11">${s.key}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...legend,
    `<line x1="${left}" y1="${top + plotH}" x2="${width - 10}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left - 4}" y="${top + 4}" font-size="11" text-anchor="end">${max}</text>`,
    `<text x="${left - 4}" y="${top + plotH}" font-size="11" text-anchor="end">0</text>`,
    ...bars,
    ...labels,
    days.length
      ? ''
      : `<text x="${left + 10}" y="${top + plotH / 2}" font-size="12">no leads in this window</text>`,
    '</svg>',
  ]
    .filter(Boolean)
    .join('\n');
}

/** One partner's counts per UTC day over [from, to) (at most 93 days), from the same read model as the reports. */
export async function partnerDailyCounts(
  partnerId: string,
  from: number,
  to: number,
  now: Date,
): Promise<DayCounts[]> {
  const days: DayCounts[] = [];
  for (let t = Math.floor(from / DAY_MS) * DAY_MS; t < to && days.length < 93; t += DAY_MS) {
    const report: PerformanceReport = await performanceReport(
      'partner',
      {
        from: new Date(Math.max(t, from)).toISOString(),
        to: new Date(Math.min(t + DAY_MS, to)).toISOString(),
      },
      now,
    );
    const row = report.rows.find((r) => r.group === partnerId);
    days.push({
      day: new Date(t).toISOString().slice(0, 10),
      accepted: row?.accepted ?? 0,
      rejected: row?.rejected ?? 0,
      expired: row?.expired ?? 0,
    });
  }
  return days;
}
