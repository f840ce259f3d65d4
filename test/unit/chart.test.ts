// The partner chart's SVG builder: one stacked bar per day, scaled to the largest day, every text escaped.
import { renderDailyChart } from '../../shared/reports/chart';

const rects = (svg: string) =>
  [
    ...svg.matchAll(
      /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#\w+)"><title>([^<]*)<\/title>/g,
    ),
  ].map((m) => ({ y: Number(m[1]), h: Number(m[2]), fill: m[3], title: m[4] }));

test('bars per day and series, the largest day fills the plot, empty series draw nothing', () => {
  const svg = renderDailyChart('acme: leads per day', [
    { day: '2026-11-01', accepted: 6, rejected: 2, expired: 0 },
    { day: '2026-11-02', accepted: 2, rejected: 0, expired: 2 },
  ]);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.endsWith('</svg>')).toBe(true);
  const bars = rects(svg);
  expect(bars.map((b) => b.title)).toEqual([
    '2026-11-01 accepted: 6',
    '2026-11-01 rejected: 2',
    '2026-11-02 accepted: 2',
    '2026-11-02 expired: 2',
  ]);
  const plot = 240 - 30 - 30;
  // Day one is the largest (8): its bars add up to the plot's height; day two (4) to half of it.
  expect((bars[0]?.h ?? 0) + (bars[1]?.h ?? 0)).toBeCloseTo(plot, 0);
  expect((bars[2]?.h ?? 0) + (bars[3]?.h ?? 0)).toBeCloseTo(plot / 2, 0);
  // Stacked: the second bar sits on top of the first.
  expect((bars[1]?.y ?? 0) + (bars[1]?.h ?? 0)).toBeCloseTo(bars[0]?.y ?? 0, 1);
  expect(svg).toContain('>8</text>');
});

test('text is escaped and a window without leads says so', () => {
  const svg = renderDailyChart('<b>&"partner\'', []);
  expect(svg).toContain('&lt;b&gt;&amp;&quot;partner&apos;');
  expect(svg).not.toContain('<b>');
  expect(svg).toContain('no leads in this window');
  expect(rects(svg)).toEqual([]);
});
