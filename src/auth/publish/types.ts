/** One publish attempt and the answer to it, shared by every publish authorizer kind (keys, hook, jwt). */
import type { StreamConfig } from '../../config.js';

export interface PublishRequest {
  /** The ingest kind: rtmp, srt, cmaf (the HTTP ingest paths), watch. */
  protocol: string;
  stream: string;
  /** What the publisher gave as its credential: a configured key, a JWT, or anything the hook understands. */
  key: string;
  remoteAddr?: string | undefined;
  /** The publish URL's query (RTMP `name?a=b`, HTTP ingest); passed to the hook, never logged. */
  query?: Record<string, string> | undefined;
}

export type PublishVerdict =
  | { ok: true; stream: string; config: StreamConfig | undefined; by: string }
  | { ok: false; reason: 'bad-name' | 'unauthorized'; message: string };

/** One kind of authorizer: allows, refuses, or has no opinion (undefined: ask the next kind). */
export interface PublishCheck {
  readonly name: string;
  check(r: PublishRequest): Promise<PublishVerdict | undefined>;
}
