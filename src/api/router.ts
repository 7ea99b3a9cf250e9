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
