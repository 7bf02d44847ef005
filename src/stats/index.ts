export { COMPUTE_BOUNDS_MS, SIZE_BOUNDS_BYTES } from './buckets.js';
export { StatsRecorder, type StatsRecorderOptions, WINDOW_MS } from './recorder.js';
export { Series, type StaleReason } from './series.js';
export { percentile } from './summary.js';
export type { ComputeSummary, FleetStats, FleetWindow, HistogramSummary, SizeSummary, StaleCounts, StatsRow } from './types.js';
