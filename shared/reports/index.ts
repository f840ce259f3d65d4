// Reports as one module owning its read model: the write half (insertStatusEvent and the recent copy), hourly
// buckets, recent-event pruning and the summary query. Under shared/ because activities write status events too.
export { buildReportBuckets, closedUntil, keepReportHouse } from './buckets';
export { BUCKET_GRACE_MS, RECENT_MARGIN_MS, type GroupBy } from './events';
export { RecentStatusEvent, ReportBucket } from './model';
export {
  insertStatusEvent,
  keepRecentStatusEvents,
  receivedEvent,
  recentCopy,
  recordMarks,
  type NewStatusEvent,
  type RecentRow,
} from './recent';
export { partnerDailyCounts, renderDailyChart, type DayCounts } from './chart';
export { bidMark, duplicateMark, offerMark, refusedPostMark } from './marks';
export { performanceReport } from './performance';
export { summaryReport, type SummaryOptions } from './summary';
