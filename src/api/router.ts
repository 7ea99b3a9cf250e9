/**
 * The control API, /api/v1 on the reader's HTTP server: streams with their health, kick, disable and enable,
 * and the operations events feed. Every route is in API_ROUTES with the token scope it needs and the statuses it
 * can answer; the OpenAPI document (openapi.ts) is tested against this table. Errors come from the reader's
 * catalogue (src/reader/errors.ts), so a curl shows `CODE: message` like every other answer of the reader.
 */
import { isSafeName, publicPath } from '../core/index.js';
import type { Logger } from '../log.js';
import { ReaderError } from '../reader/errors.js';
import { type Exchange, send } from '../reader/respond.js';
import type {
  EventBus,
  EventLog,
  HealthBoard,
  OpsEvent,
  StreamControls,
  StreamDirectory,
  StreamHealthRecord,
} from '../store/ports.js';
import { type ApiToken, ApiTokens, type Scope, allows, bearer } from './auth.js';
import { openApiDocument } from './openapi.js';
import { EVENT_ID, serveEventFeed } from './sse.js';
import {
  type AssetJobQueue,
  type AssetJobSpec as AssetJobQueueSpec,
  assetJobId as assetJobIdOf,
} from '../queue/ports.js';
import { type HarvestPlan, type HarvestRequest, HarvestRequestError } from '../vod/harvest.js';

/** Job ids (asset jobs: "vod-" and the asset name). */
const JOB_ID = /^vod-[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** A harvest request body is small. */
const MAX_BODY = 16 * 1024;

async function readJson(x: Exchange): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of x.req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw new ReaderError('BAD_REQUEST', `the body is over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ReaderError(
      'BAD_REQUEST',
      'the body must be JSON: {"start": ISO 8601, "end": ISO 8601, "asset": name}',
    );
  }
}

/** An ISO 8601 date-time with a zone (Z or ±hh:mm), as Unix ms. */
function isoMs(v: unknown, key: string): number {
  if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v))
    throw new ReaderError(
      'BAD_REQUEST',
      `${key} must be an ISO 8601 date-time with a zone, e.g. 2026-11-30T08:00:00Z`,
    );
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new ReaderError('BAD_REQUEST', `${key} is not a valid date-time`);
  return ms;
}

export const API_PREFIX = '/api/v1';

export interface ApiRouteSpec {
  method: 'GET' | 'POST';
  /** OpenAPI path template under /api/v1. */
  path: string;
  /** Token scope needed; undefined: public. */
  scope: Scope | undefined;
  /** Every status the route answers with. */
  statuses: number[];
}

type Handler = (x: Exchange, p: { name?: string; url: URL; who: string }) => Promise<void>;

export interface ApiDeps {
  tokens: ApiToken[];
  store: { streams: StreamDirectory; eventLog: EventLog; controls: StreamControls; healthBoard: HealthBoard };
  /** The per-stream media event bus (segment.published, opt-in). */
  events: EventBus;
  log: Logger;
  /** Events kept in the log (bounds a resume). */
  historySize: number;
  /** Live-to-VOD harvests and asset jobs (issue #11); absent (no cold tier): those routes answer 404. */
  assets?: AssetApiDeps;
}

/** What the harvest and job routes need (issue #11). */
export interface AssetApiDeps {
  jobs: AssetJobQueue;
  /** Checks a harvest request against what the stream has stored (no bytes read). */
  plan(r: HarvestRequest): Promise<HarvestPlan>;
  /** Whether an asset of that name is published. */
  exists(asset: string): Promise<boolean>;
}

export interface ControlApi {
  /** Serves a request whose path starts with /api/v1. */
  handle(x: Exchange, url: URL): Promise<void>;
  /** The routes as implemented (the OpenAPI test compares them with the document). */
  readonly routes: ApiRouteSpec[];
}

const JSON_TYPE = 'application/json';

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

function healthView(h: StreamHealthRecord | undefined) {
  if (!h) return null;
  return {
    protocol: h.protocol,
    publisherAddress: h.publisherAddress,
    ingest: h.ingest,
    ingestBitrateBps: h.ingestBitrateBps,
    ingestFps: h.ingestFps,
    transcoderSpeed: h.transcoderSpeed,
    droppedFrames: h.droppedFrames,
    transcoderRestarts: h.transcoderRestarts,
    renditions: h.renditions,
    lastSegmentAt: iso(h.lastSegmentAt),
    connectedAt: iso(h.connectedAt),
    reportedAt: iso(h.reportedAt),
  };
}

export function createControlApi(deps: ApiDeps): ControlApi {
  const log = deps.log.child({ component: 'api' });
  const tokens = new ApiTokens(deps.tokens);
  const { streams, eventLog, controls, healthBoard } = deps.store;

  const json = (x: Exchange, body: unknown, status: 200 = 200): void =>
    send(x, { status, cls: 'no-store', type: JSON_TYPE, body: JSON.stringify(body) });
  const accepted = (x: Exchange, body: unknown): void => {
    x.res.statusCode = 202;
    x.res.setHeader('Content-Type', JSON_TYPE);
    x.res.setHeader('Cache-Control', 'no-store');
    x.res.end(JSON.stringify(body));
  };

  async function listing(only?: string) {
    const [list, disabled] = await Promise.all([streams.list(1000), controls.disabled()]);
    const byName = new Map(list.map((s) => [s.name, s]));
    const names = [...list.map((s) => s.name), ...disabled.filter((d) => !byName.has(d))].filter(
      (n) => only === undefined || n === only,
    );
    const health = await healthBoard.read(names);
    return names.map((name) => {
      const s = byName.get(name);
      return {
        name,
        state: s?.state ?? 'unknown',
        updatedAt: iso(s?.updatedAt),
        disabled: disabled.includes(name),
        hls: publicPath.master(name),
        dash: publicPath.mpd(name),
        health: healthView(health.get(name)),
      };
    });
  }

  async function act(x: Exchange, ev: Omit<OpsEvent, 'at'>, who: string, status: 200 | 202): Promise<void> {
    const eventId = await eventLog.append({ ...ev, at: Date.now(), data: { ...ev.data, by: who } });
    log.info({ token: who, stream: ev.stream, event: ev.type, eventId }, 'control API action');
    const body = { stream: ev.stream, action: ev.type, eventId };
    if (status === 202) accepted(x, body);
    else json(x, body);
  }

  const routes: Array<ApiRouteSpec & { handler: Handler }> = [
    {
      method: 'GET',
      path: '/openapi.json',
      scope: undefined,
      statuses: [200],
      handler: async (x) => json(x, openApiDocument),
    },
    {
      method: 'GET',
      path: '/streams',
      scope: 'read',
      statuses: [200, 401, 503],
      handler: async (x) => json(x, { streams: await listing() }),
    },
    {
      method: 'GET',
      path: '/streams/{name}',
      scope: 'read',
      statuses: [200, 401, 404, 503],
      handler: async (x, p) => {
        const [s] = await listing(p.name);
        if (!s) throw new ReaderError('NOT_FOUND', 'no such stream');
        json(x, s);
      },
    },
    {
      method: 'POST',
      path: '/streams/{name}/kick',
      scope: 'admin',
      statuses: [202, 401, 403, 409, 503],
      handler: async (x, p) => {
        const h = await healthBoard.read([p.name!]);
        if (!h.has(p.name!)) throw new ReaderError('NO_PUBLISHER');
        await act(x, { type: 'publisher.kicked', stream: p.name }, p.who, 202);
      },
    },
    {
      method: 'POST',
      path: '/streams/{name}/disable',
      scope: 'admin',
      statuses: [200, 401, 403, 503],
      handler: async (x, p) => {
        await controls.setDisabled(p.name!, true);
        await act(x, { type: 'stream.disabled', stream: p.name }, p.who, 200);
      },
    },
    {
      method: 'POST',
      path: '/streams/{name}/enable',
      scope: 'admin',
      statuses: [200, 401, 403, 503],
      handler: async (x, p) => {
        await controls.setDisabled(p.name!, false);
        await act(x, { type: 'stream.enabled', stream: p.name }, p.who, 200);
      },
    },
    {
      method: 'POST',
      path: '/streams/{name}/harvest',
      scope: 'admin',
      statuses: [202, 400, 401, 403, 404, 409, 503],
      handler: async (x, p) => {
        const a = deps.assets;
        if (!a) throw new ReaderError('NOT_FOUND', 'VOD is not configured (no cold tier)');
        const body = await readJson(x);
        if (typeof body !== 'object' || body === null)
          throw new ReaderError('BAD_REQUEST', 'the body must be a JSON object');
        const b = body as Record<string, unknown>;
        if (typeof b.asset !== 'string' || !isSafeName(b.asset))
          throw new ReaderError('BAD_REQUEST', 'asset must be a name of 1-64 characters A-Z a-z 0-9 _ -');
        const req: HarvestRequest = {
          asset: b.asset,
          stream: p.name!,
          startMs: isoMs(b.start, 'start'),
          endMs: isoMs(b.end, 'end'),
        };
        let plan: HarvestPlan;
        try {
          plan = await a.plan(req);
        } catch (err) {
          if (err instanceof HarvestRequestError) {
            log.info(
              { stream: req.stream, asset: req.asset, status: err.status, reason: err.message },
              'harvest refused',
            );
            throw new ReaderError(
              err.status === 404 ? 'NOT_FOUND' : err.status === 409 ? 'ASSET_EXISTS' : 'BAD_REQUEST',
              err.message,
            );
          }
          throw err;
        }
        const existing = await a.jobs.get(assetJobIdOf(req.asset));
        const same = (s: AssetJobQueueSpec | undefined): boolean =>
          s?.kind === 'harvest' &&
          s.stream === req.stream &&
          s.startMs === req.startMs &&
          s.endMs === req.endMs;
        if (
          (existing && existing.state !== 'failed' && !same(existing.spec)) ||
          (!existing && (await a.exists(req.asset)))
        )
          throw new ReaderError(
            'ASSET_EXISTS',
            `asset ${req.asset} exists or is being made from another request`,
          );
        const { view, created } = await a.jobs.submit({ kind: 'harvest', ...req });
        log.info(
          {
            token: p.who,
            stream: req.stream,
            asset: req.asset,
            job: view.id,
            created,
            gaps: plan.gaps.length,
          },
          'harvest requested',
        );
        accepted(x, {
          job: view,
          jobUrl: `${API_PREFIX}/jobs/${view.id}`,
          gaps: plan.gaps,
          discontinuities: Math.max(
            0,
            ...plan.renditions.map((r) => r.segments.filter((s) => s.discontinuity).length),
          ),
          segments: Math.max(0, ...plan.renditions.map((r) => r.segments.length)),
          window: { start: iso(plan.window.startMs), end: iso(plan.window.endMs) },
          hls: `/vod/${req.asset}/master.m3u8`,
          dash: `/vod/${req.asset}/manifest.mpd`,
        });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}',
      scope: 'read',
      statuses: [200, 401, 404, 503],
      handler: async (x, p) => {
        const job = deps.assets ? await deps.assets.jobs.get(p.name!) : undefined;
        if (!job) throw new ReaderError('NOT_FOUND', 'no such job');
        json(x, job);
      },
    },
    {
      method: 'GET',
      path: '/events',
      scope: 'read',
      statuses: [200, 400, 401, 503],
      handler: async (x, p) => {
        const q = p.url.searchParams;
        const header = x.req.headers['last-event-id'];
        const lastEventId =
          (typeof header === 'string' ? header : undefined) ?? q.get('lastEventId') ?? undefined;
        if (lastEventId !== undefined && !EVENT_ID.test(lastEventId))
          throw new ReaderError('BAD_REQUEST', 'Last-Event-ID must be an event id like 1700000000000-0');
        const historyS = q.get('history') ?? '0';
        if (!/^\d{1,5}$/.test(historyS)) throw new ReaderError('BAD_REQUEST', 'history must be an integer');
        const segments = (q.get('segments') ?? '').split(',').filter((s) => s !== '');
        if (segments.length > 50 || !segments.every(isSafeName))
          throw new ReaderError('BAD_REQUEST', 'segments must name at most 50 streams');
        await serveEventFeed(
          x,
          { lastEventId, history: Math.min(Number(historyS), 1000), segments },
          { eventLog, events: deps.events, log, historySize: deps.historySize },
        );
      },
    },
  ];

  function match(path: string): { route: (typeof routes)[number][]; name?: string } | undefined {
    const parts = path.split('/');
    // ['', 'streams', name, action?]
    let template = path;
    let name: string | undefined;
    if (parts[1] === 'streams' && parts.length >= 3) {
      name = parts[2]!;
      if (!isSafeName(name)) return undefined;
      parts[2] = '{name}';
      template = parts.join('/');
    }
    // ['', 'jobs', id] (issue #11)
    if (parts[1] === 'jobs' && parts.length === 3) {
      name = parts[2]!;
      if (!JOB_ID.test(name)) return undefined;
      template = '/jobs/{id}';
    }
    const found = routes.filter((r) => r.path === template);
    return found.length ? { route: found, name } : undefined;
  }

  return {
    routes: routes.map(({ method, path, scope, statuses }) => ({ method, path, scope, statuses })),
    async handle(x, url) {
      const m = match(url.pathname.slice(API_PREFIX.length));
      if (!m) throw new ReaderError('NOT_FOUND');
      const method = x.req.method === 'HEAD' ? 'GET' : x.req.method;
      const r = m.route.find((c) => c.method === method);
      if (!r)
        throw new ReaderError('METHOD_NOT_ALLOWED', undefined, {
          Allow: m.route.map((c) => c.method).join(', '),
        });
      let who = 'public';
      if (r.scope) {
        // Only the events feed takes the token from the query (EventSource cannot send headers).
        const presented =
          bearer(x.req.headers.authorization) ??
          (r.path === '/events' ? (url.searchParams.get('access_token') ?? undefined) : undefined);
        const a = tokens.check(presented);
        if (!a.ok) {
          log.warn(
            { reason: a.reason, method, route: r.path, remote: x.req.socket.remoteAddress },
            'control API request refused',
          );
          throw new ReaderError('UNAUTHORIZED', undefined, {
            'WWW-Authenticate': 'Bearer realm="wellspring"',
          });
        }
        if (!allows(a.scope, r.scope)) {
          log.warn({ token: a.name, method, route: r.path }, 'control API action refused: read token');
          throw new ReaderError('FORBIDDEN');
        }
        who = a.name;
      }
      await r.handler(x, { name: m.name, url, who });
    },
  };
}
