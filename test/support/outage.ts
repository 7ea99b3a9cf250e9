/**
 * The rig of the outage e2e tests (cold-outage, hook-outage): one node with every role composed by
 * workers/compose.ts behind Varnish (the deploy VCL), and a player-like viewer through the CDN that measures a
 * baseline before a fault and judges the fault against it.
 */
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import {
  acceptance,
  longestGap,
  type Violation,
  Viewer,
  type ViewerReport,
} from '../../tools/viewer/viewer.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { sleep } from './harness.js';

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));

export interface CdnNode {
  node: NodeHandle;
  cdn: EmbeddedCdn;
  /** The reader's own base URL (for /metrics). */
  origin: string;
  /** Stops Varnish, then the node. */
  stop(): Promise<void>;
}

/** Ingest, manifest worker and reader of `config` in this process, with Varnish in front of the reader. */
export async function startCdnNode(config: Config, log: Logger): Promise<CdnNode> {
  const node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  let cdn: EmbeddedCdn;
  try {
    cdn = await startVarnishCdn([node.httpPort!], template);
  } catch (err) {
    await node.stop();
    throw err;
  }
  return {
    node,
    cdn,
    origin: `http://127.0.0.1:${node.httpPort}`,
    async stop() {
      await cdn.stop();
      await node.stop();
    },
  };
}

export interface FaultRun {
  report: ViewerReport;
  /** The longest stall before the fault (how long media stands still on this shared machine without one). */
  baselineMs: number;
  /** When the fault began (the viewer's mark). */
  downAt: number;
  /** No error, and no stall longer than the baseline's + 1 s from the fault on: empty when both hold. */
  violations: Violation[];
}

/**
 * A viewer following `url` around a fault: waits for media, watches `baselineMs` without a fault, marks
 * `label` and runs `fault` (which may mark more), watches one more second, and judges the whole report.
 */
export async function viewThroughFault(
  url: string,
  o: { baselineMs: number; label: string },
  fault: (v: Viewer) => Promise<void>,
): Promise<FaultRun> {
  const v = new Viewer({ url }).start();
  try {
    const baseFrom = await v.waitForMedia(0, 30_000);
    await sleep(o.baselineMs);
    const downAt = v.mark(o.label);
    await fault(v);
    await sleep(1000);
    const report = await v.stop();
    const baselineMs = longestGap(report.mediaArrivals, baseFrom, downAt).ms;
    const violations = acceptance(report, {
      noErrors: true,
      maxStall: { ms: baselineMs + 1000, window: { from: downAt, to: report.endedAt } },
    });
    return { report, baselineMs, downAt, violations };
  } finally {
    await v.stop().catch(() => undefined);
  }
}
