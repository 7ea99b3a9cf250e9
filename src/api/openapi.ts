/**
 * The control API's OpenAPI 3.1 document, written as a typed object and served at /api/v1/openapi.json.
 * test/unit/api-openapi.test.ts holds it equal to the router's table (every route, method and status both ways).
 */

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  enum?: Array<string | number>;
  $ref?: string;
  description?: string;
  nullable?: never;
  additionalProperties?: boolean | Schema;
  oneOf?: Schema[];
}

interface Response {
  description: string;
  content?: Record<string, { schema: Schema }>;
  headers?: Record<string, { schema: Schema; description?: string }>;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: Schema;
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  /** x-scope: the token scope the operation needs (none: public). */
  'x-scope'?: 'read' | 'admin';
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, Response>;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  paths: Record<string, Partial<Record<'get' | 'post', Operation>>>;
  components: {
    securitySchemes: Record<string, { type: 'http'; scheme: 'bearer'; description: string }>;
    schemas: Record<string, Schema>;
    responses: Record<string, Response>;
  };
}

const text = (description: string): Response => ({
  description,
  content: { 'text/plain': { schema: { type: 'string', description: 'CODE: message (docs/errors.md)' } } },
});
const json = (description: string, ref: string): Response => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const bearer = [{ bearer: [] }];
const streamName: Parameter = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'Stream name ([A-Za-z0-9_-]{1,64})',
  schema: { type: 'string' },
};
const errors = {
  '401': { $ref: '#/components/responses/Unauthorized' },
  '503': { $ref: '#/components/responses/Unavailable' },
} as unknown as Record<string, Response>;
const adminErrors = {
  ...errors,
  '403': { $ref: '#/components/responses/Forbidden' },
} as unknown as Record<string, Response>;

const num = (description: string): Schema => ({ type: ['number', 'null'], description });

export const openApiDocument: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Wellspring control API',
    version: '1',
    description:
      'List streams with their health, kick publishers, disable and enable streams, and follow the operations ' +
      'events (Server-Sent Events). Bearer tokens from the config (api.tokens), scope read or admin.',
  },
  servers: [{ url: '/api/v1' }],
  paths: {
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        responses: {
          '200': { description: 'The OpenAPI document', content: { 'application/json': { schema: {} } } },
        },
      },
    },
    '/streams': {
      get: {
        operationId: 'listStreams',
        summary: 'Streams with their state, switches and the live publisher health',
        'x-scope': 'read',
        security: bearer,
        responses: { '200': json('The streams, most recently updated first', 'StreamList'), ...errors },
      },
    },
    '/streams/{name}': {
      get: {
        operationId: 'getStream',
        summary: 'One stream',
        'x-scope': 'read',
        security: bearer,
        parameters: [streamName],
        responses: {
          '200': json('The stream', 'Stream'),
          '404': text('NOT_FOUND: no such stream'),
          ...errors,
        },
      },
    },
    '/streams/{name}/kick': {
      post: {
        operationId: 'kickPublisher',
        summary: 'Drops the live publisher (it may reconnect unless the stream is disabled)',
        description:
          'Appends a publisher.kicked event; the ingest holding the publisher closes its connection when it ' +
          'hears it (any process).',
        'x-scope': 'admin',
        security: bearer,
        parameters: [streamName],
        responses: {
          '202': json('Kick requested', 'Action'),
          '409': text('NO_PUBLISHER: the stream has no live publisher'),
          ...adminErrors,
        },
      },
    },
    '/streams/{name}/disable': {
      post: {
        operationId: 'disableStream',
        summary: 'Disables a stream: its publisher is dropped and refused, its playlists answer 403 or 404',
        'x-scope': 'admin',
        security: bearer,
        parameters: [streamName],
        responses: { '200': json('Disabled', 'Action'), ...adminErrors },
      },
    },
    '/streams/{name}/enable': {
      post: {
        operationId: 'enableStream',
        summary: 'Enables a disabled stream again',
        'x-scope': 'admin',
        security: bearer,
        parameters: [streamName],
        responses: { '200': json('Enabled', 'Action'), ...adminErrors },
      },
    },
    '/streams/{name}/harvest': {
      post: {
        operationId: 'harvest',
        summary: 'Makes an immutable VOD asset from a time range of a live or finished stream (issue #11)',
        description:
          'Checks the range against what the stream has stored, then queues a job (one per asset) that copies ' +
          'the segments whose first sample lies in [start, end) into the asset and publishes its VOD HLS and ' +
          'static MPD at /vod/{asset}/. Missing segments in the range become discontinuities: the answer lists ' +
          'the gaps. Asking again for the same asset and range returns the same job.',
        'x-scope': 'admin',
        security: bearer,
        parameters: [streamName],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/HarvestRequest' } } },
        },
        responses: {
          '202': json('Harvest queued (or already queued / done for the same request)', 'HarvestAccepted'),
          '400': text(
            'BAD_REQUEST: malformed body, start not before end, or a range outside the window (named)',
          ),
          '404': text('NOT_FOUND: no such stream with stored media, or VOD not configured'),
          '409': text('ASSET_EXISTS: the asset exists or is being made from another request'),
          ...adminErrors,
        },
      },
    },
    '/jobs/{id}': {
      get: {
        operationId: 'getJob',
        summary: 'An asset job (harvest or VOD packaging): state, progress, result or error',
        'x-scope': 'read',
        security: bearer,
        parameters: [
          { name: 'id', in: 'path', required: true, description: 'vod-{asset}', schema: { type: 'string' } },
        ],
        responses: { '200': json('The job', 'Job'), '404': text('NOT_FOUND: no such job'), ...errors },
      },
    },
    '/events': {
      get: {
        operationId: 'events',
        summary: 'Operations events as Server-Sent Events',
        description:
          'Every event carries an id; reconnecting with Last-Event-ID (header, or the lastEventId query) resumes ' +
          'after it from the bounded history. segment.published events are live only (no id) and opt-in per ' +
          'stream with ?segments=a,b. EventSource cannot send headers: this route alone also takes the token ' +
          'as ?access_token=.',
        'x-scope': 'read',
        security: bearer,
        parameters: [
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } },
          { name: 'lastEventId', in: 'query', schema: { type: 'string' } },
          {
            name: 'history',
            in: 'query',
            description: 'Newest N events first (no resume id)',
            schema: { type: 'integer' },
          },
          {
            name: 'segments',
            in: 'query',
            description: 'Streams whose segment.published events to send',
            schema: { type: 'string' },
          },
          { name: 'access_token', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'An endless event stream',
            content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/Event' } } },
          },
          '400': text('BAD_REQUEST: malformed Last-Event-ID or query'),
          ...errors,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'A token of api.tokens' },
    },
    responses: {
      Unauthorized: text('UNAUTHORIZED: no token, or not a configured one (WWW-Authenticate: Bearer)'),
      Forbidden: text('FORBIDDEN: a read token asked for an admin action'),
      Unavailable: text('STORE_UNAVAILABLE: Redis is unreachable (Retry-After: 1)'),
    },
    schemas: {
      Health: {
        type: ['object', 'null'],
        description: 'The ingest report of the live publisher, refreshed every 2 s (null: no publisher)',
        properties: {
          protocol: { type: 'string', enum: ['rtmp', 'srt', 'watch', 'cmaf'] },
          publisherAddress: { type: ['string', 'null'] },
          ingest: { type: 'string' },
          ingestBitrateBps: num('source bits/s into the transcoder'),
          ingestFps: num('source video frames/s'),
          transcoderSpeed: num('ffmpeg speed, 1 = real time'),
          droppedFrames: num('frames ffmpeg dropped'),
          transcoderRestarts: { type: 'integer' },
          renditions: { type: 'array', items: { type: 'string' } },
          lastSegmentAt: { type: ['string', 'null'], description: 'ISO time of the newest segment' },
          connectedAt: { type: 'string' },
          reportedAt: { type: 'string' },
        },
      },
      Stream: {
        type: 'object',
        required: ['name', 'state', 'disabled', 'health'],
        properties: {
          name: { type: 'string' },
          state: { type: 'string', enum: ['live', 'idle', 'ended', 'unknown'] },
          updatedAt: { type: ['string', 'null'] },
          disabled: { type: 'boolean' },
          hls: { type: 'string' },
          dash: { type: 'string' },
          health: { $ref: '#/components/schemas/Health' },
        },
      },
      StreamList: {
        type: 'object',
        properties: { streams: { type: 'array', items: { $ref: '#/components/schemas/Stream' } } },
      },
      HarvestRequest: {
        type: 'object',
        required: ['start', 'end', 'asset'],
        properties: {
          start: { type: 'string', description: 'ISO 8601 date-time with a zone' },
          end: { type: 'string', description: 'ISO 8601 date-time with a zone, after start' },
          asset: { type: 'string', description: 'Asset name ([A-Za-z0-9_-]{1,64})' },
        },
      },
      Job: {
        type: 'object',
        required: ['id', 'spec', 'state', 'progress', 'attemptsMade', 'createdAtMs'],
        properties: {
          id: { type: 'string' },
          spec: { type: 'object', additionalProperties: true },
          state: { type: 'string', enum: ['waiting', 'active', 'completed', 'failed'] },
          progress: {
            type: 'object',
            properties: {
              percent: { type: 'number' },
              stage: { type: 'string' },
              speed: { type: 'number' },
              etaSec: { type: 'number' },
            },
          },
          result: { type: 'object', additionalProperties: true },
          error: { type: 'string' },
          attemptsMade: { type: 'integer' },
          createdAtMs: { type: 'integer' },
          finishedAtMs: { type: 'integer' },
        },
      },
      HarvestAccepted: {
        type: 'object',
        properties: {
          job: { $ref: '#/components/schemas/Job' },
          jobUrl: { type: 'string' },
          gaps: { type: 'array', items: { type: 'object', additionalProperties: true } },
          discontinuities: { type: 'integer' },
          segments: { type: 'integer' },
          window: { type: 'object', properties: { start: { type: 'string' }, end: { type: 'string' } } },
          hls: { type: 'string' },
          dash: { type: 'string' },
        },
      },
      Action: {
        type: 'object',
        properties: { stream: { type: 'string' }, action: { type: 'string' }, eventId: { type: 'string' } },
      },
      Event: {
        type: 'object',
        required: ['type', 'at'],
        properties: {
          id: { type: 'string' },
          type: {
            type: 'string',
            enum: [
              'publisher.connected',
              'publisher.refused',
              'publisher.left',
              'publisher.kicked',
              'transcoder.restarted',
              'discontinuity',
              'stream.live',
              'stream.ended',
              'stream.disabled',
              'stream.enabled',
              'segment.published',
            ],
          },
          stream: { type: 'string' },
          at: { type: 'integer', description: 'Unix ms' },
          data: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
};
