// A lead's journey as a terminal timeline: one line per event, with the time since the lead arrived.
import type { Journey } from '../../shared/http';

const KIND_LABEL = {
  status: 'STATUS',
  bid: 'BID',
  delivery: 'DELIVERY',
  postback: 'POSTBACK',
  notification: 'NOTIFY',
} as const;

function since(start: number, at: string): string {
  const s = (Date.parse(at) - start) / 1000;
  return `+${s.toFixed(3)}s`.padStart(11);
}

export function formatJourney(journey: Journey, color = false): string {
  const { lead, timeline } = journey;
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const start = Date.parse(lead.createdAt);
  const facts = [
    `source ${lead.sourceId}`,
    lead.clickId ? `click ${lead.clickId}` : undefined,
    lead.partnerId ? `partner ${lead.partnerId}` : undefined,
    `status ${paint(1, lead.status)}`,
    lead.payout ? `payout ${lead.payout} ${lead.currency ?? ''}`.trim() : undefined,
  ].filter(Boolean);
  const lines = [
    `Lead ${lead.leadId}  (workflow ${lead.workflowId})`,
    `  ${facts.join(' · ')}`,
    `  created ${lead.createdAt}  updated ${lead.updatedAt}`,
    '',
  ];
  for (const e of timeline) {
    const failed = e.ok === false || (e.httpStatus !== undefined && e.httpStatus >= 400);
    const label = KIND_LABEL[e.kind].padEnd(8);
    lines.push(`  ${e.at}  ${since(start, e.at)}  ${paint(failed ? 31 : 36, label)}  ${e.summary}`);
  }
  if (!timeline.length) lines.push('  (no events yet)');
  const exhausted = lead.notifications.filter((n) => n.exhausted).map((n) => n.status);
  if (exhausted.length) {
    lines.push(
      '',
      `  exhausted notifications: ${[...new Set(exhausted)].join(', ')} (leadrouter replay --lead ${lead.leadId} --status <status>)`,
    );
  }
  return lines.join('\n');
}
