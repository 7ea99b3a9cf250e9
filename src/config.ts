/**
 * Configuration: one JSON file validated at start (zod), with environment overrides. Errors name the key
 * and the rule. Only workers/ call loadConfig; everything else receives a Config.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { WellspringError } from './core/errors.js';
import { SAFE_NAME, SAFE_NAME_RULE } from './core/names/index.js';

const safeName = z.string().regex(SAFE_NAME, SAFE_NAME_RULE);
const HOST_PORT = z.string().regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, 'must be host:port');
/** The longest DVR window Redis alone may hold (no cold tier). */
const MAX_HOT_DVR_SEC = 86_400;
const safeKey = z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, 'must be 8-128 characters of A-Z a-z 0-9 _ -');

const rung = z
  .object({
    name: safeName,
    /** Output height; width follows the source aspect ratio (rounded to even). */
    height: z.number().int().min(64).max(4320).optional(),
    videoBitrateK: z.number().int().min(50).max(100_000).optional(),
    /** Copy the source video as it is (no re-encode). */
    passthrough: z.boolean().default(false),
    preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium']).default('veryfast'),
    profile: z.enum(['baseline', 'main', 'high']).default('high'),
    /**
     * x264 threads for this rung; 0 lets x264 decide. One thread per rung costs ~22% less CPU on the default
     * ladder than x264's own choice (measured on 2 cores), and a single-threaded encoder adds no frame delay.
     */
    threads: z.number().int().min(0).max(64).default(1),
    /**
     * Seconds between keyframes: how often a part is independent (EXT-X-PART INDEPENDENT=YES), where a joining
     * LL-HLS player may start. Default: one per segment. Keep it the same on every rung and a divisor of the
     * segment duration (segments still start on a keyframe at the segment grid).
     */
    keyframeSec: z.number().min(0.1).max(10).optional(),
  })
  .strict()
  .refine((r) => r.passthrough || (r.height !== undefined && r.videoBitrateK !== undefined), {
    message: 'a rung needs height and videoBitrateK unless passthrough is true',
  });

/** Packaging settings; a stream may override any of them (its own fields have no defaults). */
const packagingFields = {
  segmentSec: z.number().min(0.5).max(10),
  partSec: z.number().min(0.1).max(2),
  /** Live playlist window. */
  windowSec: z.number().min(6).max(600),
  /**
   * Time-shifted viewing (dvr.m3u8, dvr.mpd, ?start=&end=): up to 14 days (1,209,600 s), as MediaPackage's
   * start-over window. Segments that leave Redis are listed from the SegmentArchive (cold tier, issue #11).
   */
  dvrWindowSec: z.number().min(6).max(1_209_600),
  fps: z.number().min(1).max(120),
  audioBitrateK: z.number().int().min(32).max(512),
  ladder: z.array(rung).min(1).max(8),
};

const packaging = z
  .object({
    segmentSec: packagingFields.segmentSec.default(2),
    partSec: packagingFields.partSec.default(0.2),
    windowSec: packagingFields.windowSec.default(30),
    dvrWindowSec: packagingFields.dvrWindowSec.default(120),
    fps: packagingFields.fps.default(30),
    audioBitrateK: packagingFields.audioBitrateK.default(128),
    ladder: packagingFields.ladder.optional(),
  })
  .strict();

const ingest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('rtmp') }).strict(),
  z
    .object({
      type: z.literal('srt'),
      port: z.number().int().min(1).max(65535),
      passphrase: z.string().min(10).max(79).optional(),
      /** SRT key length in bytes (pbkeylen). */
      pbkeylen: z.union([z.literal(16), z.literal(24), z.literal(32)]).default(16),
      latencyMs: z.number().int().min(20).max(8000).default(120),
      /**
       * Audio tracks of the source to package, in its order (MPEG-TS can carry several, e.g. one per language):
       * each becomes an audio rendition ("audio", "audio-2", ...), its language from the source's tag.
       */
      audioTracks: z.number().int().min(1).max(4).default(1),
    })
    .strict(),
  z
    .object({
      type: z.literal('watch'),
      dir: z.string().min(1),
      /** As for SRT: audio tracks of the files to package. */
      audioTracks: z.number().int().min(1).max(4).default(1),
    })
    .strict(),
  z
    .object({
      /** DASH-IF CMAF ingest (Interface 1) over the ingest HTTP listener: POST/PUT /ingest/{stream}/{track}. */
      type: z.literal('cmaf'),
      /** Track (rendition) names expected, e.g. ["video", "audio"]: the stream's files wait for each. */
      tracks: z.array(safeName).max(16).optional(),
    })
    .strict(),
]);

const stream = z
  .object({
    name: safeName,
    /** Secret publish key: rtmp://host/live/<key>. Required for RTMP. */
    key: safeKey.optional(),
    ingest: ingest.default({ type: 'rtmp' }),
    ...z.object(packagingFields).partial().shape,
    /**
     * Issue #11: when the publisher leaves, harvest the whole event (stream.live to stream.ended) into a VOD asset
     * named <stream>-<start, UTC yyyymmddThhmmss> (needs a cold tier; the asset workers do it).
     */
    archiveOnEnd: z.boolean().default(false),
  })
  .strict();

/** A secret string: long enough not to be guessed (never logged). */
const secret = z.string().min(16, 'must be at least 16 characters');

/** How a JWT is verified: an HS256 shared secret, or RS256/ES256 public keys from a JWKS URL. */
const jwtVerify = z
  .object({
    secret: secret.optional(),
    jwksUrl: z.string().url().optional(),
    issuer: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
  })
  .strict()
  .refine((j) => (j.secret === undefined) !== (j.jwksUrl === undefined), {
    message: 'give exactly one of secret (HS256) or jwksUrl (RS256/ES256)',
  });

/** Access control (issue #12): who may publish, who may watch, and the CDN in front. README "Security". */
const auth = z
  .object({
    publish: z
      .object({
        /** POSTs {action, protocol, stream, key, remoteAddr, query}; 2xx allows; anything else (or down) refuses. */
        hook: z
          .object({
            url: z.string().url(),
            timeoutMs: z.number().int().min(100).max(30_000).default(2000),
            /** Remember an allow for this long (per stream, key and address); 0: ask every time. */
            cacheSec: z.number().int().min(0).max(3600).default(0),
          })
          .strict()
          .optional(),
        /** JWT publish tokens (claims: stream, action "publish", exp), given as the key. */
        jwt: jwtVerify.optional(),
        /** Refused publishes per remote address: a token bucket (burst, refill per minute), bounded map. */
        failures: z
          .object({
            burst: z.number().int().min(1).max(1000).default(5),
            perMinute: z.number().min(0.1).max(6000).default(6),
            maxAddresses: z.number().int().min(10).max(1_000_000).default(10_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    playback: z
      .object({
        /** HMAC keys for signed playback URLs, by id; two during a rotation. */
        keys: z
          .array(
            z
              .object({
                id: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'must be 1-16 of A-Z a-z 0-9 _ -'),
                secret,
              })
              .strict(),
          )
          .max(4)
          .default([]),
        /** JWT playback tokens (claims: stream, action "play", exp). */
        jwt: jwtVerify.optional(),
        /** Which streams need a token once keys or jwt are set: all, or the ones named. */
        protect: z.union([z.literal('all'), z.array(safeName)]).default('all'),
        /** How long the CDN may remember that a token was valid (Varnish's auth object), s; capped by expiry. */
        edgeCacheSec: z.number().int().min(0).max(300).default(10),
      })
      .strict()
      .prefault({}),
    cdn: z
      .object({
        /** The header the CDN sends to the origin. */
        header: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name')
          .default('X-Wellspring-CDN-Secret'),
        /** Accepted values (two during a rotation); empty: the reader answers anyone. */
        secrets: z.array(secret).max(2).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

/**
 * The default ladder at x264 superfast: on a 720p source it cost 24% less CPU than veryfast for the same PSNR
 * (+-0.04 dB) on a test pattern and a hard clip (bench:cost quality, decision 017).
 */
export const DEFAULT_LADDER: z.input<typeof rung>[] = [
  { name: '720p', height: 720, videoBitrateK: 2500, preset: 'superfast' },
  { name: '480p', height: 480, videoBitrateK: 1200, preset: 'superfast' },
  { name: '360p', height: 360, videoBitrateK: 700, preset: 'superfast' },
];

export const configSchema = z
  .object({
    /** One standalone Redis server (REDIS_URL). Ignored when redis.cluster or redis.sentinel is set. */
    redisUrl: z.string().url().default('redis://127.0.0.1:6379'),
    /** Redis Cluster: seed nodes (REDIS_CLUSTER_NODES=host:port,host:port,...). */
    redis: z
      .object({
        cluster: z
          .object({
            nodes: z.array(HOST_PORT).min(1, 'name at least one seed node'),
          })
          .strict()
          .optional(),
        /**
         * Redis Sentinel (REDIS_SENTINELS=host:port,...; REDIS_SENTINEL_NAME): the sentinels to ask for the
         * current primary of the monitored set `name`; every role follows a failover. Ignored when cluster is set.
         */
        sentinel: z
          .object({
            sentinels: z.array(HOST_PORT).min(1, 'name at least one sentinel'),
            name: z.string().min(1).max(200).default('mymaster'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * This ingest's identity in the publisher leases; must be stable across its restarts and unique among live
     * ingests. Default: host name and RTMP port (decision 005).
     */
    instanceId: z.string().min(1).max(200).optional(),
    /** Prefix of every Redis key and queue name, so several deployments can share one Redis. */
    keyPrefix: safeName.default('ws'),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Time a client has to send a request's headers (slowloris); the socket is closed after it. */
        headersTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
        /**
         * Time a client has to send a whole request. Only the request: a response held open (an LL-HLS blocking
         * reload, an in-progress segment) is not cut by it.
         */
        requestTimeoutMs: z.number().int().min(500).max(300_000).default(30_000),
        /** An idle keep-alive connection is closed after this; above a CDN's own idle timeout (60 s is common). */
        keepAliveTimeoutMs: z.number().int().min(1000).max(600_000).default(65_000),
        /** A connection with no byte in or out for this long is ended; longer than any held answer. */
        idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
        /** Open connections; beyond it new ones are closed at once. 0: no limit. */
        maxConnections: z.number().int().min(0).max(1_000_000).default(10_000),
        /**
         * Connections the kernel may complete before the reader accepts them (listen backlog; Linux caps it at
         * net.core.somaxconn). Node's default, 511, overflowed under bench:load and dropped connections, which
         * then waited seconds for the client's retransmission (decision 024).
         */
        backlog: z.number().int().min(1).max(65_535).default(4096),
        /**
         * Handles accepting on the listening socket. Node 20 accepts one connection per event-loop turn and
         * handle; under load a turn takes tens of ms, so a burst of new connections waited seconds (decision 025).
         * 1: Node's own handle only.
         */
        acceptors: z.number().int().min(1).max(64).default(32),
      })
      .strict()
      .prefault({}),
    rtmp: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(1935),
        app: safeName.default('live'),
        /** Largest RTMP chunk size a client may set; larger is a protocol error. */
        maxChunkSize: z.number().int().min(128).max(16_777_215).default(1_048_576),
        /** A connection must have completed handshake, connect and publish within this time, or is closed. */
        publishDeadlineMs: z.number().int().min(500).max(120_000).default(10_000),
        /** A connection (publishing or not) that sends nothing for this long is closed. */
        idleTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
        /** Open RTMP connections; beyond it new ones are closed at once. 0: no limit. */
        maxConnections: z.number().int().min(0).max(100_000).default(1000),
      })
      .strict()
      .prefault({}),
    /**
     * The ingest HTTP listener (issue #10): the MediaStore-compatible object API and, under /ingest/, DASH-IF CMAF
     * ingest. Its own port, never reachable through the reader's paths. Decision 009.
     */
    httpIngest: z
      .object({
        /** Start the listener in the ingest role. */
        enabled: z.boolean().default(true),
        host: z.string().default('0.0.0.0'),
        /** HTTP_INGEST_PORT overrides it. */
        port: z.number().int().min(0).max(65535).default(8090),
        headersTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
        /** Time to send a whole request; 0 (default) leaves it to the handlers (long-running chunked POSTs). */
        requestTimeoutMs: z.number().int().min(0).max(3_600_000).default(0),
        keepAliveTimeoutMs: z.number().int().min(1000).max(600_000).default(65_000),
        idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(30_000),
        maxConnections: z.number().int().min(0).max(100_000).default(1000),
        /** Object API limits (MediaStore's): a whole object, a STREAMING object, and the time one upload may take. */
        maxObjectBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024 * 1024)
          .default(25 * 1024 * 1024),
        maxStreamingBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024 * 1024)
          .default(10 * 1024 * 1024),
        uploadTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
        /** SigV4 access keys accepted by the object API (any container). */
        accessKeys: z
          .array(
            z
              .object({
                accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be 16-128 characters of A-Z 0-9'),
                secretAccessKey: z.string().min(16).max(128),
              })
              .strict(),
          )
          .default([]),
        /** Largest clock difference a signed request may have, ms (AWS: 15 minutes). */
        maxClockSkewMs: z
          .number()
          .int()
          .min(1000)
          .max(3_600_000)
          .default(15 * 60_000),
        /** Object API containers: the first path segment of every object path. */
        containers: z
          .array(
            z
              .object({
                name: safeName,
                /** Tokens for encoders that cannot sign (query ?token= or Authorization: Bearer). */
                tokens: z.array(safeKey).default([]),
                /**
                 * Availability of a PUT that sends no x-amz-upload-availability header. STREAMING suits encoders
                 * that cannot add the header (ffmpeg's dash muxer): their chunked uploads are readable as they land.
                 */
                defaultAvailability: z.enum(['STANDARD', 'STREAMING']).default('STANDARD'),
                /**
                 * Addresses (IPv4 CIDR like "10.0.0.0/8", or an exact address) whose requests need no credentials,
                 * as a MediaStore container policy with aws:SourceIp: for encoders that can neither sign nor send a
                 * header first (ffmpeg's dash muxer sends HTTP Basic only after a 401, which a streamed PUT cannot
                 * answer).
                 */
                allowedSourceIps: z
                  .array(
                    z
                      .string()
                      .regex(
                        /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]+)$/,
                        'must be an IPv4 CIDR or an address',
                      ),
                  )
                  .default([]),
                /** TTL of objects no lifecycle rule matches, s (the hot tier never keeps objects forever). */
                defaultTtlSec: z.number().int().min(1).max(31_536_000).default(86_400),
                /**
                 * Lifecycle rules, first match wins: a path prefix or a wildcard (`*` within a folder, `**` across
                 * folders) and either a transient rule (secondsSinceCreate, 1-300) or a delete rule (days).
                 */
                lifecycle: z
                  .array(
                    z
                      .object({
                        prefix: z.string().max(900).optional(),
                        wildcard: z.string().max(900).optional(),
                        secondsSinceCreate: z.number().int().min(1).max(300).optional(),
                        days: z.number().int().min(1).max(36_500).optional(),
                      })
                      .strict()
                      .refine((r) => (r.prefix === undefined) !== (r.wildcard === undefined), {
                        message: 'a lifecycle rule needs exactly one of prefix or wildcard',
                      })
                      .refine((r) => (r.secondsSinceCreate === undefined) !== (r.days === undefined), {
                        message: 'a lifecycle rule needs exactly one of secondsSinceCreate or days',
                      }),
                  )
                  .default([]),
                /** CORS rules for browser reads of the object API (MediaStore's CorsRule). */
                cors: z
                  .array(
                    z
                      .object({
                        allowedOrigins: z.array(z.string().min(1)).min(1),
                        allowedMethods: z
                          .array(z.enum(['GET', 'HEAD', 'PUT', 'DELETE']))
                          .default(['GET', 'HEAD']),
                        allowedHeaders: z.array(z.string().min(1)).default(['*']),
                        exposeHeaders: z.array(z.string().min(1)).default([]),
                        maxAgeSeconds: z.number().int().min(0).max(2_147_483_647).default(3000),
                      })
                      .strict(),
                  )
                  .default([]),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    /** DASH-IF CMAF ingest (Interface 1), served on the ingest HTTP listener. */
    cmafIngest: z
      .object({
        /** Path prefix of the publishing points: {root}/{stream}/{track}. Begins and ends with "/". */
        root: z
          .string()
          .regex(/^\/([A-Za-z0-9_-]+\/)+$/, 'must be like /ingest/')
          .default('/ingest/'),
        /** With no request open and no media for this long, a stream's publication ends. */
        idleEndMs: z.number().int().min(500).max(120_000).default(5000),
        /** Largest box (moov, moof, mdat) accepted in one fragment. */
        maxBoxBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .max(256 * 1024 * 1024)
          .default(32 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** The reader's in-process caches (issue #15; README "Sizing the reader"). */
    reader: z
      .object({
        /**
         * Immutable media (init, segments, parts) kept in process, bytes; READER_MEDIA_CACHE_MB overrides it. The
         * reader's RSS grows by about this much once full. Objects above a quarter of it are never kept.
         */
        mediaCacheBytes: z
          .number()
          .int()
          .min(0)
          .max(64 * 1024 * 1024 * 1024)
          .default(128 * 1024 * 1024),
        /**
         * A plain playlist/MPD request may be answered from the render read last for at most this long, ms; the
         * stream's next manifest event ends it sooner. 0: every request reads the store. Decision 016.
         */
        manifestCacheMs: z.number().int().min(0).max(2000).default(0),
      })
      .strict()
      .prefault({}),
    /** The control API /api/v1, its events feed and webhooks (issue #12). */
    api: z
      .object({
        /** Bearer tokens: read may list and follow events; admin may also kick, disable and enable. */
        tokens: z
          .array(
            z
              .object({
                /** Names the token in logs (the token itself is never logged). */
                name: safeName,
                token: z.string().regex(/^[\x21-\x7e]{16,256}$/, 'must be 16-256 printable characters'),
                scope: z.enum(['read', 'admin']),
              })
              .strict(),
          )
          .default([]),
        /**
         * Who may read the reader's /metrics and /streams (they list every stream): `token` needs a control API
         * token (any scope) as a bearer token; `open` anyone past the CDN secret; `auto` (default) is `token` when
         * the config names streams and has API tokens (a closed config), else `open` (the demo).
         */
        opsAccess: z.enum(['auto', 'open', 'token']).default('auto'),
        /** What a disabled stream's playlists, MPDs and media answer. */
        disabledStatus: z.union([z.literal(403), z.literal(404)]).default(403),
        /** Operations events kept for Last-Event-ID resume (approximately). */
        eventHistory: z.number().int().min(100).max(1_000_000).default(10_000),
        /** Every operations event POSTed to each URL, signed (X-Wellspring-Signature), retried with backoff. */
        webhooks: z
          .array(
            z
              .object({
                url: z.string().url(),
                secret: z.string().min(16).max(256),
              })
              .strict(),
          )
          .default([]),
        /** Delivery attempts per event and URL (backoff doubling from 500 ms up to webhookMaxBackoffMs). */
        webhookAttempts: z.number().int().min(1).max(1000).default(20),
        webhookMaxBackoffMs: z.number().int().min(500).max(3_600_000).default(60_000),
        webhookTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
      })
      .strict()
      .prefault({}),
    /**
     * Issue #11: the cold tier. Every complete segment and init is copied there behind the live path (bounded
     * queue, retries), read back by the reader when Redis no longer has it, and swept past each stream's
     * dvrWindowSec (streams in `keep`: never). Decision 013. type none: no cold tier.
     */
    cold: z
      .object({
        type: z.enum(['none', 'disk', 's3', 'memory']).default('none'),
        /** disk: root directory (created when absent). */
        dir: z.string().min(1).default('.wellspring-cold'),
        s3: z
          .object({
            /** S3-compatible server URL; absent: AWS for the region. */
            endpoint: z.string().url().optional(),
            bucket: z
              .string()
              .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
              .optional(),
            region: z.string().min(1).default('us-east-1'),
            /** Absent: the AWS SDK's default credential chain (environment, profile, instance role). */
            accessKeyId: z.string().min(1).optional(),
            secretAccessKey: z.string().min(1).optional(),
            /** http://host/bucket/key, which most S3-compatible servers need. */
            forcePathStyle: z.boolean().default(true),
            /** Key prefix inside the bucket. */
            prefix: z.string().max(200).default(''),
          })
          .strict()
          .prefault({}),
        /** The archiver's queue: bound (items, bytes; past it the oldest segment writes are dropped, counted). */
        queue: z
          .object({
            maxItems: z.number().int().min(1).max(1_000_000).default(10_000),
            maxBytes: z
              .number()
              .int()
              .min(1_000_000)
              .default(1024 * 1024 * 1024),
            concurrency: z.number().int().min(1).max(64).default(4),
            retryBaseMs: z.number().int().min(1).max(60_000).default(200),
            retryMaxMs: z.number().int().min(1).max(600_000).default(10_000),
            /** Attempts at a write failing with something other than an outage. */
            maxAttempts: z.number().int().min(1).max(100).default(5),
          })
          .strict()
          .prefault({}),
        /** Cold reads kept in the reader's process, bytes. */
        cacheBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024 * 1024),
        /** An object read from cold more than `after` times within windowSec is copied into Redis for ttlSec. */
        promotion: z
          .object({
            after: z.number().int().min(0).max(1_000_000).default(3),
            windowSec: z.number().int().min(1).max(86_400).default(60),
            ttlSec: z.number().int().min(1).max(86_400).default(120),
          })
          .strict()
          .prefault({}),
        /** How long a cold miss is remembered by a reader, ms. */
        missTtlMs: z.number().int().min(0).max(60_000).default(2000),
        /** Retention sweep interval (manifest role), s. */
        sweepIntervalSec: z.number().int().min(1).max(86_400).default(60),
        /** Streams whose cold objects are never swept. */
        keep: z.array(safeName).default([]),
        /**
         * How much of each DVR window Redis also keeps (segment TTLs, hot timeline), s; older segments are listed
         * from the SegmentArchive and read from the cold tier.
         */
        hotWindowSec: z.number().int().min(6).max(86_400).default(300),
      })
      .strict()
      .refine((c) => c.type !== 's3' || c.s3.bucket !== undefined, {
        message: 'cold.type s3 needs cold.s3.bucket',
        path: ['s3', 'bucket'],
      })
      .prefault({}),
    /** Absolute URL of the origin's clock for DASH UTCTiming; default: /time on the same host. */
    utcTimingUrl: z.string().default('/time'),
    /** The player's target latency for LL-DASH, ms. */
    targetLatencyMs: z.number().int().min(500).max(30_000).default(1500),
    ffmpegPath: z.string().default('ffmpeg'),
    /**
     * Decoder threads in the transcoder. ffmpeg's frame-threaded decoding holds threads-1 frames back (66 ms at
     * 30 fps with its default on 2 cores); one thread decodes 1080p30 H.264 comfortably. 0 lets ffmpeg decide.
     */
    decoderThreads: z.number().int().min(0).max(64).default(1),
    /**
     * Scheduling priority (niceness, -20..19) of every live transcoder ffmpeg, set right after it starts. The
     * ladder must run at real time: one that gets too little CPU falls behind, and every LL player stalls
     * (README "Latency": 0 stalls at -5 where 16 at 0 under the same contention). Below 0 needs root or
     * CAP_SYS_NICE; refused, the transcoder runs at the default with one warning. 0: left as spawned.
     */
    transcoderNice: z.number().int().min(-20).max(19).default(0),
    /**
     * An RTMP input read more than this far behind its publisher (s) is cut back to the live edge: the transcoder
     * fell behind real time and the media queued at the encoder and in the socket; it is dropped, the transcoder
     * restarts (a discontinuity) and the stream goes on live instead of ever further behind (decision 020).
     * 0: never cut.
     */
    maxInputLagSec: z.number().min(0).max(600).default(6),
    /**
     * A live transcoder older than this (s) is replaced at the next input video keyframe (RTMP): ffmpeg's fMP4
     * muxer keeps 40 bytes per fragment for the life of the process (+2.9 MB per hour with 0.2 s parts), which only
     * a new process releases. The old one flushes everything it has; the new one gets the input from the keyframe
     * on; viewers see one discontinuity (decision 021). 0: never.
     */
    transcoderRecycleSec: z
      .number()
      .min(0)
      .max(30 * 86_400)
      .refine((v) => v === 0 || v >= 2, { message: '0 (never) or at least 2 s' })
      .default(86_400),
    /** Pending publish operations kept in memory while Redis is unreachable, per stream. */
    publishBufferBytes: z
      .number()
      .int()
      .min(1_000_000)
      .default(64 * 1024 * 1024),
    defaults: packaging.prefault({}),
    streams: z.array(stream).default([]),
    auth,
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    const ports = new Set<number>([
      c.http.port,
      c.rtmp.port,
      ...(c.httpIngest.enabled ? [c.httpIngest.port] : []),
    ]);
    c.streams.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({
          code: 'custom',
          path: ['streams', i, 'name'],
          message: `duplicate stream name "${s.name}"`,
        });
      names.add(s.name);
      if (s.ingest.type === 'rtmp' && !s.key)
        ctx.addIssue({
          code: 'custom',
          path: ['streams', i, 'key'],
          message: 'an RTMP stream needs a publish key',
        });
      if (s.ingest.type === 'cmaf' && !s.key)
        ctx.addIssue({
          code: 'custom',
          path: ['streams', i, 'key'],
          message: 'a CMAF ingest stream needs a publish key',
        });
      if (s.ingest.type === 'srt') {
        if (ports.has(s.ingest.port))
          ctx.addIssue({
            code: 'custom',
            path: ['streams', i, 'ingest', 'port'],
            message: `port ${s.ingest.port} is already used`,
          });
        ports.add(s.ingest.port);
      }
      const part = s.partSec ?? c.defaults.partSec;
      const seg = s.segmentSec ?? c.defaults.segmentSec;
      if (part > seg)
        ctx.addIssue({
          code: 'custom',
          path: ['streams', i, 'partSec'],
          message: 'partSec must not exceed segmentSec',
        });
    });
    // Without a cold tier the whole DVR window lives in Redis: more than a day of it is a memory bill, not a DVR.
    if (c.cold.type === 'none') {
      if (c.defaults.dvrWindowSec > MAX_HOT_DVR_SEC)
        ctx.addIssue({
          code: 'custom',
          path: ['defaults', 'dvrWindowSec'],
          message: `a DVR window over ${MAX_HOT_DVR_SEC} s needs a cold tier (cold.type disk or s3)`,
        });
      c.streams.forEach((s, i) => {
        if ((s.dvrWindowSec ?? 0) > MAX_HOT_DVR_SEC)
          ctx.addIssue({
            code: 'custom',
            path: ['streams', i, 'dvrWindowSec'],
            message: `a DVR window over ${MAX_HOT_DVR_SEC} s needs a cold tier (cold.type disk or s3)`,
          });
      });
    }
    if (c.defaults.partSec > c.defaults.segmentSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaults', 'partSec'],
        message: 'partSec must not exceed segmentSec',
      });
    }
  });

export type Config = z.output<typeof configSchema>;
export type StreamConfig = Config['streams'][number];
export type Rung = z.output<typeof rung>;
export type IngestConfig = StreamConfig['ingest'];

/** Packaging settings of one stream: its own values over the defaults. */
export interface StreamSettings {
  name: string;
  segmentSec: number;
  partSec: number;
  windowSec: number;
  dvrWindowSec: number;
  /** The part of the DVR window Redis keeps: all of it without a cold tier, else cold.hotWindowSec (#11). */
  hotDvrWindowSec: number;
  fps: number;
  audioBitrateK: number;
  ladder: Rung[];
}

export function streamSettings(config: Config, name: string, stream?: StreamConfig): StreamSettings {
  const d = config.defaults;
  const windowSec = stream?.windowSec ?? d.windowSec;
  const dvrWindowSec = Math.max(stream?.dvrWindowSec ?? d.dvrWindowSec, windowSec);
  return {
    name,
    segmentSec: stream?.segmentSec ?? d.segmentSec,
    partSec: stream?.partSec ?? d.partSec,
    windowSec,
    dvrWindowSec,
    hotDvrWindowSec:
      config.cold.type === 'none'
        ? dvrWindowSec
        : Math.min(dvrWindowSec, Math.max(config.cold.hotWindowSec, windowSec)),
    fps: stream?.fps ?? d.fps,
    audioBitrateK: stream?.audioBitrateK ?? d.audioBitrateK,
    ladder: (stream?.ladder ?? d.ladder ?? DEFAULT_LADDER.map((r) => rung.parse(r))) as Rung[],
  };
}

/**
 * Who renders each rendition's dvr.m3u8 (issue #11, decision 014); both roles ask this, so they cannot disagree.
 * With a cold tier, 'reader': each reader renders it on request from the SegmentArchive and the live timeline
 * (src/reader/timeshift.ts) and the manifest worker does not render it. Without one, 'manifest': the manifest
 * worker renders it from the Redis timeline (which then holds the whole window) once per segment and stores it,
 * and the reader serves that stored copy.
 */
export function dvrPlaylistRenderer(config: Pick<Config, 'cold'>): 'reader' | 'manifest' {
  return config.cold.type === 'none' ? 'manifest' : 'reader';
}

/** A configuration that breaks a rule: each issue names the key path and the rule. */
export class ConfigError extends WellspringError {
  constructor(readonly issues: string[]) {
    super('CONFIG', `invalid configuration:\n  ${issues.join('\n  ')}`);
  }
}

/** Environment variables that override the file (documented in the README). */
export const ENV_OVERRIDES = {
  REDIS_URL: 'redisUrl',
  HTTP_PORT: 'http.port',
  HTTP_INGEST_PORT: 'httpIngest.port',
  HTTP_ACCEPTORS: 'http.acceptors',
  RTMP_PORT: 'rtmp.port',
  LOG_LEVEL: 'logLevel',
  FFMPEG_PATH: 'ffmpegPath',
} as const;

/** Validates a raw configuration object (after env overrides). */
export function parseConfig(raw: unknown): Config {
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return r.data;
}

/** Reads the file (if any), applies env overrides and validates. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv): Config {
  let raw: Record<string, unknown> = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError([`${path}: cannot read (${(err as Error).message})`]);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError([`${path}: not valid JSON (${(err as Error).message})`]);
    }
  }
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const [a, b] = key.split('.') as [string, string | undefined];
    const typed = /(port|acceptors)$/i.test(key) ? (/^\d+$/.test(value) ? Number(value) : value) : value;
    if (b) raw[a] = { ...((raw[a] as object) ?? {}), [b]: typed };
    else raw[a] = typed;
  }
  const seeds = env.REDIS_CLUSTER_NODES;
  if (seeds) {
    const redis = (raw.redis as Record<string, unknown> | undefined) ?? {};
    raw.redis = {
      ...redis,
      cluster: {
        nodes: seeds
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean),
      },
    };
  }
  // REDIS_SENTINELS names the sentinels; REDIS_SENTINEL_NAME the monitored set (with them, or the file's).
  const sentinels = env.REDIS_SENTINELS;
  const redis = (raw.redis as Record<string, unknown> | undefined) ?? {};
  const fileSentinel = redis.sentinel as Record<string, unknown> | undefined;
  if (sentinels || (env.REDIS_SENTINEL_NAME && fileSentinel)) {
    raw.redis = {
      ...redis,
      sentinel: {
        ...fileSentinel,
        ...(sentinels
          ? {
              sentinels: sentinels
                .split(',')
                .map((n) => n.trim())
                .filter(Boolean),
            }
          : {}),
        ...(env.REDIS_SENTINEL_NAME ? { name: env.REDIS_SENTINEL_NAME } : {}),
      },
    };
  }
  applyAuthEnv(raw, env);
  applyReaderEnv(raw, env);
  return parseConfig(raw);
}

/** READER_MEDIA_CACHE_MB (MiB) and READER_MANIFEST_CACHE_MS over the file's reader.* (a non-number fails validation). */
function applyReaderEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const r = { ...((raw.reader as Record<string, unknown> | undefined) ?? {}) };
  const mb = env.READER_MEDIA_CACHE_MB;
  if (mb) r.mediaCacheBytes = /^\d+$/.test(mb) ? Number(mb) * 1024 * 1024 : mb;
  const ms = env.READER_MANIFEST_CACHE_MS;
  if (ms) r.manifestCacheMs = /^\d+$/.test(ms) ? Number(ms) : ms;
  if (Object.keys(r).length) raw.reader = r;
}

/**
 * Secrets from the environment (docker-compose, orchestrators' secret stores) over the file:
 * WELLSPRING_CDN_SECRETS=a,b (or WELLSPRING_CDN_SECRET=a, the name Varnish's side uses); WELLSPRING_PLAYBACK_KEYS=id:secret,id:secret; WELLSPRING_PUBLISH_HOOK_URL=url.
 */
function applyAuthEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const list = (v: string): string[] =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const a = { ...((raw.auth as Record<string, Record<string, unknown> | undefined>) ?? {}) };
  const cdnSecrets = env.WELLSPRING_CDN_SECRETS || env.WELLSPRING_CDN_SECRET;
  if (cdnSecrets) a.cdn = { ...a.cdn, secrets: list(cdnSecrets) };
  if (env.WELLSPRING_PLAYBACK_KEYS)
    a.playback = {
      ...a.playback,
      keys: list(env.WELLSPRING_PLAYBACK_KEYS).map((kv) => {
        const i = kv.indexOf(':');
        return { id: kv.slice(0, i), secret: kv.slice(i + 1) };
      }),
    };
  if (env.WELLSPRING_PUBLISH_HOOK_URL)
    a.publish = {
      ...a.publish,
      hook: { ...(a.publish?.hook as object | undefined), url: env.WELLSPRING_PUBLISH_HOOK_URL },
    };
  if (Object.keys(a).length) raw.auth = a;
}

/**
 * Where the store connects: one standalone server, a cluster through its seed nodes, or the primary of a
 * Sentinel-monitored set.
 */
export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }> }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string };

function hostPort(n: string): { host: string; port: number } {
  const i = n.lastIndexOf(':');
  return { host: n.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(n.slice(i + 1)) };
}

export function redisTarget(config: Config): RedisTarget {
  const nodes = config.redis.cluster?.nodes;
  if (nodes) return { kind: 'cluster', nodes: nodes.map(hostPort) };
  const sentinel = config.redis.sentinel;
  if (sentinel) return { kind: 'sentinel', sentinels: sentinel.sentinels.map(hostPort), name: sentinel.name };
  return { kind: 'standalone', url: config.redisUrl };
}

/** Do the reader's /metrics and /streams need a control API token (config api.opsAccess)? */
export function opsNeedToken(c: Config): boolean {
  const a = c.api.opsAccess;
  return a === 'token' || (a === 'auto' && c.streams.length > 0 && c.api.tokens.length > 0);
}
