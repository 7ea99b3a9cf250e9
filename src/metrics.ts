/** Prometheus metrics (prom-client), one registry per process, exposed at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { gcPauseHistogram, replaceNodeGcHistogram } from './gc-metric.js';

/** Release times, s: fine around the 20 ms target (issue #15), wide enough for a loaded machine. */
const RELEASE_BUCKETS = [
  0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5,
];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    gcPauses: gcPauseHistogram(registry),
    nodeGcDurations: replaceNodeGcHistogram(registry),
    publishLatency: new Histogram({
      name: 'wellspring_publish_seconds',
      help: 'Time from a part or segment being complete in the ingest to its bytes and timeline entry being in Redis',
      labelNames: ['kind'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    publishDropped: new Counter({
      name: 'wellspring_publish_dropped_total',
      help: 'Publish operations dropped because Redis was unreachable and the bounded buffer was full',
      labelNames: ['stream', 'kind'],
      registers: [registry],
    }),
    publishPendingBytes: new Gauge({
      name: 'wellspring_publish_pending_bytes',
      help: 'Bytes waiting to be written to Redis',
      labelNames: ['stream'],
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'wellspring_redis_errors_total',
      help: 'Failed Redis operations',
      labelNames: ['component'],
      registers: [registry],
    }),
    ffmpegRestarts: new Counter({
      name: 'wellspring_ffmpeg_restarts_total',
      help: 'Transcoder restarts',
      labelNames: ['stream'],
      registers: [registry],
    }),
    transcoderRecycles: new Counter({
      name: 'wellspring_transcoder_recycles_total',
      help: 'Planned transcoder replacements at an input keyframe once a process reached transcoderRecycleSec (bounds ffmpeg memory; one discontinuity each, no media lost; not counted as restarts)',
      labelNames: ['stream'],
      registers: [registry],
    }),
    ffmpegSpeed: new Gauge({
      name: 'wellspring_ffmpeg_speed',
      help: 'Transcoder speed relative to real time',
      labelNames: ['stream'],
      registers: [registry],
    }),
    ffmpegDropped: new Gauge({
      name: 'wellspring_ffmpeg_dropped_frames',
      help: 'Frames dropped by the transcoder',
      labelNames: ['stream'],
      registers: [registry],
    }),
    rtmpRejected: new Counter({
      name: 'wellspring_rtmp_rejected_total',
      help: 'RTMP connections refused or closed on error',
      labelNames: ['reason'],
      registers: [registry],
    }),
    publishers: new Gauge({
      name: 'wellspring_live_publishers',
      help: 'Publishers connected to this ingest',
      registers: [registry],
    }),
    manifestRenderSeconds: new Histogram({
      name: 'wellspring_manifest_render_seconds',
      help: 'Manifest job duration (read timeline, render, store)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    cmafDuplicates: new Counter({
      name: 'wellspring_cmaf_duplicate_fragments_total',
      help: 'CMAF ingest fragments dropped because another sender delivered the same media time first',
      labelNames: ['stream'],
      registers: [registry],
    }),
    cmafRejected: new Counter({
      name: 'wellspring_cmaf_rejected_total',
      help: 'CMAF ingest requests refused, by HTTP status',
      labelNames: ['status'],
      registers: [registry],
    }),
    rtmpBacklogCuts: new Counter({
      name: 'wellspring_rtmp_backlog_cuts_total',
      help: 'RTMP inputs read more than maxInputLagSec behind their publisher (the transcoder slower than real time): the backlog dropped and the transcoder restarted at the live edge',
      registers: [registry],
    }),
    rtmpTakeovers: new Counter({
      name: 'wellspring_rtmp_backup_takeovers_total',
      help: 'RTMP backup publishers that took a stream over from a departed primary',
      registers: [registry],
    }),
    readerRefused: new Counter({
      name: 'wellspring_reader_connections_refused_total',
      help: 'Connections the reader closed at once because http.maxConnections were open',
      registers: [registry],
    }),
    readerAcceptHandles: new Gauge({
      name: 'wellspring_reader_accept_handles',
      help: 'Listening handles the reader accepts connections on (http.acceptors, or 1 after a failed start of the copies)',
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'wellspring_http_requests_total',
      help: 'Reader requests',
      labelNames: ['class', 'status'],
      registers: [registry],
    }),
    /**
     * Blocking-reload fan-out inside the reader: from a manifest event reaching it to the last held reload that
     * event satisfied being written (one observation per release batch: one manifest name of one stream).
     */
    blockingRelease: new Histogram({
      name: 'wellspring_blocking_release_seconds',
      help: 'Manifest event heard -> every blocking reload it satisfied written (per release batch)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers: [registry],
    }),
    /**
     * Issues #13/#15, measured in the reader (src/reader/release.ts): per held blocking reload released by a
     * manifest event, event heard -> that reload's answer written to its socket.
     */
    readerRelease: new Histogram({
      name: 'wellspring_reader_release_seconds',
      help: 'Manifest event heard by the reader -> a held blocking reload it released written to its socket (one per reload)',
      buckets: RELEASE_BUCKETS,
      registers: [registry],
    }),
    readerReleaseSpread: new Histogram({
      name: 'wellspring_reader_release_spread_seconds',
      help: 'Per release batch (one manifest name of one stream): first -> last held blocking reload written',
      buckets: RELEASE_BUCKETS,
      registers: [registry],
    }),
    /** Issue #11: the cold tier (decision 013). */
    coldBacklogItems: new Gauge({
      name: 'wellspring_cold_backlog_items',
      help: 'Cold-tier writes queued behind the live path (grows while the cold tier is down)',
      registers: [registry],
    }),
    coldBacklogBytes: new Gauge({
      name: 'wellspring_cold_backlog_bytes',
      help: 'Bytes of the cold-tier writes queued behind the live path',
      registers: [registry],
    }),
    coldWrites: new Counter({
      name: 'wellspring_cold_writes_total',
      help: 'Cold-tier writes by result: ok, failed (gave up), dropped (backlog past its bound)',
      labelNames: ['result', 'kind'],
      registers: [registry],
    }),
    coldWriteLag: new Histogram({
      name: 'wellspring_cold_write_lag_seconds',
      help: 'Segment stored in Redis -> stored in the cold tier and recorded in the archive',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    coldWriteErrors: new Counter({
      name: 'wellspring_cold_write_errors_total',
      help: 'Failed cold-tier write attempts (each retry counted): reason unavailable (full, read-only, unreachable) or error; code: errno (ENOSPC...) or other',
      labelNames: ['reason', 'code'],
      registers: [registry],
    }),
    coldReads: new Counter({
      name: 'wellspring_cold_reads_total',
      help: 'Reader lookups in the cold tier after a Redis miss: hit, miss, error',
      labelNames: ['result'],
      registers: [registry],
    }),
    coldCacheHits: new Counter({
      name: 'wellspring_cold_cache_hits_total',
      help: 'Cold objects answered from the reader process cache',
      registers: [registry],
    }),
    coldCacheBytes: new Gauge({
      name: 'wellspring_cold_cache_bytes',
      help: 'Bytes of cold objects in the reader process cache',
      registers: [registry],
    }),
    coldPromotions: new Counter({
      name: 'wellspring_cold_promotions_total',
      help: 'Cold objects copied into Redis because they were read often',
      registers: [registry],
    }),
    vodReads: new Counter({
      name: 'wellspring_vod_reads_total',
      help: 'VOD objects read by a reader past its process cache: from the hot tier (promoted copies) or the cold tier',
      labelNames: ['tier'],
      registers: [registry],
    }),
    vodPromotions: new Counter({
      name: 'wellspring_vod_promotions_total',
      help: 'VOD objects copied into Redis because they were read often',
      registers: [registry],
    }),
    coldSweeps: new Counter({
      name: 'wellspring_cold_sweeps_total',
      help: 'Retention sweeps by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    coldSwept: new Counter({
      name: 'wellspring_cold_swept_objects_total',
      help: 'Cold segments deleted by retention sweeps (asked for: deleting a missing one is no error)',
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
