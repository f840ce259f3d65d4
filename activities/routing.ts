// Which partners may take a lead (filters, pause, active hours) and their caps, taken atomically.
import { CapSlot, Delivery, insertOnce, Lead, type LeadDoc } from '../shared/models';
import type { PartnerConfig } from '../shared/config';
import { personScreen } from './duplicates';
import { readPath } from '../shared/lead-fields';
import type { ActivityDeps } from './deps';
import type { CapReservation, RoutePlan } from './types';
import { leadWorkflowId } from '../shared/temporal';

type ActiveHours = NonNullable<PartnerConfig['routing']['activeHours']>;

/** Weekday and minutes since midnight of `at` in a time zone, by the platform's tz database (Intl). */
function localClock(at: Date, timeZone: string): { day: string; minutes: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  // Some ICU versions print midnight as "24" even with h23.
  return {
    day: get('weekday').toLowerCase().slice(0, 3),
    minutes: (Number(get('hour')) % 24) * 60 + Number(get('minute')),
  };
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const PREVIOUS_DAY: Record<string, string> = {
  mon: 'sun',
  tue: 'mon',
  wed: 'tue',
  thu: 'wed',
  fri: 'thu',
  sat: 'fri',
  sun: 'sat',
};

/**
 * True when `at` falls in the partner's window: from (inclusive) to (exclusive), local time. A window
 * across midnight (22:00-06:00) belongs to the day it starts on, so its early hours check yesterday.
 */
export function withinActiveHours(hours: ActiveHours | undefined, at: Date): boolean {
  if (!hours) return true;
  const { day, minutes } = localClock(at, hours.timezone);
  const from = toMinutes(hours.from);
  const to = toMinutes(hours.to);
  const days = hours.days as string[];
  if (from < to) return days.includes(day) && minutes >= from && minutes < to;
  if (minutes >= from) return days.includes(day);
  return minutes < to && days.includes(PREVIOUS_DAY[day] ?? '');
}

const lower = (v: unknown) => String(v ?? '').toLowerCase();

/** The first filter a lead fails, or undefined when it passes all of them. */
export function failedFilter(partner: PartnerConfig, lead: Partial<LeadDoc>): string | undefined {
  const f = partner.routing.filters;
  const inList = (list: string[] | undefined, value: unknown) =>
    !list || list.map(lower).includes(lower(value));
  if (!inList(f.vertical, lead.vertical)) return 'vertical';
  if (!inList(f.country, lead.geo?.country)) return 'country';
  if (!inList(f.state, lead.geo?.state)) return 'state';
  if (f.zipPrefix && !f.zipPrefix.some((p) => String(lead.geo?.zip ?? '').startsWith(p))) return 'zip';
  for (const [path, allowed] of Object.entries(f.fields ?? {})) {
    const value = readPath(lead, path);
    if (!allowed.some((a) => lower(a) === lower(value))) return path;
  }
  return undefined;
}

/** The cap periods a partner counts in, at `at` (UTC day and hour). */
export function capPeriods(partner: PartnerConfig, at: Date): { period: string; cap: number }[] {
  const iso = at.toISOString();
  const periods: { period: string; cap: number }[] = [];
  if (partner.routing.dailyCap !== undefined)
    periods.push({ period: `d${iso.slice(0, 10)}`, cap: partner.routing.dailyCap });
  if (partner.routing.hourlyCap !== undefined)
    periods.push({ period: `h${iso.slice(0, 13)}`, cap: partner.routing.hourlyCap });
  return periods;
}

/**
 * Takes one of the cap's numbered slots by inserting it: the unique _id makes two leads unable to hold
 * the same slot, so no read-modify-write of a counter is needed. Returns the slot's id, or undefined when full.
 */
async function takeSlot(
  partnerId: string,
  period: string,
  cap: number,
  leadId: string,
  at: Date,
): Promise<string | undefined> {
  const held = await CapSlot.findOne({ partnerId, period, leadId }, { _id: 1 }).lean();
  if (held) return held._id; // an earlier attempt of this activity already took it
  for (;;) {
    const taken = new Set((await CapSlot.find({ partnerId, period }, { _id: 1 }).lean()).map((s) => s._id));
    const free: string[] = [];
    for (let n = 1; n <= cap; n++)
      if (!taken.has(`${partnerId}:${period}:${n}`)) free.push(`${partnerId}:${period}:${n}`);
    if (free.length === 0) return undefined;
    // Start at a random free slot so that concurrent leads mostly try different ones.
    const start = Math.floor(Math.random() * free.length);
    for (let i = 0; i < free.length; i++) {
      const id = free[(start + i) % free.length] as string;
      if (await insertOnce(() => CapSlot.create({ _id: id, partnerId, period, leadId, takenAt: at })))
        return id;
    }
  }
}

/** Plans a lead's route from its document (null: not found, no candidate); the workflow orders the candidates. */
export function routePlanner({ config, now, logger }: Pick<ActivityDeps, 'config' | 'now' | 'logger'>) {
  return async function planFor(
    leadId: string,
    lead: (LeadDoc & { _id: string }) | null,
  ): Promise<RoutePlan> {
    const cfg = config();
    const at = now();
    const plan: RoutePlan = {
      candidates: [],
      skipped: [],
      maxPartners: cfg.config.settings.maxPartnersPerLead,
    };
    const personSkip = await personScreen(lead, at);
    for (const p of cfg.config.partners) {
      let reason: string | undefined;
      if (p.paused) reason = 'paused';
      else if (p.routing.weight === 0) reason = 'weight 0';
      else if (!withinActiveHours(p.routing.activeHours, at)) reason = 'outside active hours';
      else {
        const failed = lead ? failedFilter(p, lead) : 'lead not found';
        if (failed) reason = `filter ${failed}`;
      }
      reason ??= await personSkip(p);
      if (reason) {
        plan.skipped.push({ partnerId: p.id, reason });
        continue;
      }
      plan.candidates.push({
        partnerId: p.id,
        priority: p.routing.priority,
        weight: p.routing.weight,
        deliveryTimeoutMs: p.delivery.timeoutMs,
        deliveryMaxAttempts: p.delivery.maxAttempts,
        postbackTimeoutMs: p.postback.timeout,
        allowResale: p.postback.allowResale,
        payoutCents: p.payoutCents,
        currency: p.currency,
        ...(p.ping ? { ping: { bidValidityMs: p.ping.bidValidityMs } } : {}),
        ...(capPeriods(p, at).length ? { capped: true } : {}),
      });
    }
    if (plan.candidates.some((c) => c.ping)) {
      const { timeoutMs, floorCents, currency, winners } = cfg.config.routing.auction;
      plan.auction = { timeoutMs, floorCents, currency, ...(winners > 1 ? { winners } : {}) };
    }
    logger.debug(
      {
        leadId,
        workflowId: leadWorkflowId(leadId),
        candidates: plan.candidates.map((c) => c.partnerId),
        skipped: plan.skipped,
      },
      'route planned',
    );
    return plan;
  };
}

export function routingActivities(deps: ActivityDeps) {
  const { config, now } = deps;
  const planFor = routePlanner(deps);
  return {
    async planRoute(leadId: string): Promise<RoutePlan> {
      return planFor(leadId, (await Lead.findById(leadId).lean()) as (LeadDoc & { _id: string }) | null);
    },

    async reserveCap({ partnerId, leadId }: { partnerId: string; leadId: string }): Promise<CapReservation> {
      const partner = config().partners.get(partnerId);
      if (!partner) return { ok: false, slots: [], reason: 'partner no longer configured' };
      const at = now();
      const slots: string[] = [];
      for (const { period, cap } of capPeriods(partner, at)) {
        const slot = await takeSlot(partnerId, period, cap, leadId, at);
        if (!slot) {
          if (slots.length) await CapSlot.deleteMany({ _id: { $in: slots } });
          const reason = `${period.startsWith('d') ? 'daily' : 'hourly'} cap of ${cap} reached`;
          await insertOnce(() =>
            Delivery.create({
              _id: `${leadId}:${partnerId}:cap`,
              leadId,
              partnerId,
              attempt: 0,
              at,
              outcome: 'skipped',
              reason,
            }),
          );
          return { ok: false, slots: [], reason };
        }
        slots.push(slot);
      }
      return { ok: true, slots };
    },

    /** Gives cap slots back when the partner did not take the lead after all. */
    async releaseCap({ slots }: { slots: string[] }): Promise<void> {
      if (slots.length) await CapSlot.deleteMany({ _id: { $in: slots } });
    },
  };
}
