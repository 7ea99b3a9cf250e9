/** The object API's pure parts: path rule, request target, ranges, lifecycle TTLs, CORS, source addresses, SigV4 parsing. */
import { describe, expect, it } from 'vitest';
import { folderEntries, objectPathProblem } from '../../src/store/object-path.js';
import { parseAmzDate, parseSigV4, tokenMatches } from '../../src/ingest/http/objects/auth.js';
import {
  corsHeaders,
  objectTtl,
  sourceAllowed,
  wildcardToRegExp,
} from '../../src/ingest/http/objects/rules.js';
import { parseByteRange, parseTarget } from '../../src/ingest/http/objects/target.js';
import { typeFromName } from '../../src/ingest/http/objects/service.js';

describe('object paths', () => {
  it('accepts MediaStore names and refuses traversal, empty segments and other characters', () => {
    expect(objectPathProblem('c/live/seg_1-a.~x.ts')).toBeUndefined();
    expect(objectPathProblem('c')).toMatch(/container and an object/);
    expect(objectPathProblem('c', true)).toBeUndefined();
    expect(objectPathProblem('c/../x')).toMatch(/".." segment/);
    expect(objectPathProblem('c/./x')).toMatch(/"\." segment/);
    expect(objectPathProblem('c//x')).toMatch(/empty/);
    expect(objectPathProblem('c/a b')).toMatch(/characters/);
    expect(objectPathProblem('c/a%2e')).toMatch(/characters/);
    expect(objectPathProblem(`c/${'a/'.repeat(11)}x`)).toMatch(/folders/);
    expect(objectPathProblem(`c/${'a'.repeat(901)}`)).toMatch(/900/);
  });

  it('lists an object in each of its folders', () => {
    expect(folderEntries('a/b/x.ts')).toEqual([
      ['', 'a/'],
      ['a/', 'b/'],
      ['a/b/', 'x.ts'],
    ]);
  });
});

describe('request targets', () => {
  it('names an object, or a listing by endpoint with or without the container', () => {
    expect(parseTarget('/c/a/x.ts?token=t')).toMatchObject({
      kind: 'object',
      path: 'c/a/x.ts',
      container: 'c',
      rest: 'a/x.ts',
    });
    expect(parseTarget('/c/?Path=a&MaxResults=2')).toMatchObject({
      kind: 'list',
      folder: 'c/a',
      container: 'c',
    });
    expect(parseTarget('/?Path=c/a/')).toMatchObject({ kind: 'list', folder: 'c/a', container: 'c' });
    expect(parseTarget('/c/')).toMatchObject({ kind: 'list', folder: 'c' });
  });

  it('refuses encoded slashes, encoded dot segments, bad escapes and a listing without container', () => {
    expect(() => parseTarget('/c/a%2Fb')).toThrow(/encoded slash/);
    expect(() => parseTarget('/c/a%5cb')).toThrow(/encoded slash/);
    expect(() => parseTarget('/c/%2e%2e/x')).toThrow(/"\.\." segment/);
    expect(() => parseTarget('/c/%E0%A4%A')).toThrow(/percent/);
    expect(() => parseTarget('/')).toThrow(/container/);
    expect(() => parseTarget('/c/?Path=../x')).toThrow(/"\.\." segment/);
  });

  it('parses single byte ranges as RFC 9110 does', () => {
    expect(parseByteRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseByteRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseByteRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseByteRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseByteRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseByteRange(undefined, 100)).toBeUndefined();
  });
});

describe('lifecycle and CORS', () => {
  it('maps the first matching rule to a TTL, else the default', () => {
    const rules = [
      { prefix: 'live/', secondsSinceCreate: 30 },
      { wildcard: '**.m3u8', days: 2 },
      { wildcard: 'vod/*.ts', days: 1 },
    ];
    expect(objectTtl(rules, 'live/a.ts', 600)).toEqual({ ttlSec: 30, rule: 0 });
    expect(objectTtl(rules, 'x/y/index.m3u8', 600)).toEqual({ ttlSec: 172_800, rule: 1 });
    expect(objectTtl(rules, 'vod/a.ts', 600)).toEqual({ ttlSec: 86_400, rule: 2 });
    expect(objectTtl(rules, 'vod/sub/a.ts', 600)).toEqual({ ttlSec: 600, rule: 'default' });
    expect(wildcardToRegExp('a.b*').test('aXb')).toBe(false);
  });

  it('answers CORS only for an allowed origin, method and headers', () => {
    const rules = [
      {
        allowedOrigins: ['https://*.example'],
        allowedMethods: ['GET'],
        allowedHeaders: ['range'],
        exposeHeaders: ['ETag'],
        maxAgeSeconds: 60,
      },
    ];
    expect(corsHeaders(rules, 'https://a.example', 'GET', ['range'])).toMatchObject({
      'Access-Control-Allow-Origin': 'https://a.example',
      'Access-Control-Expose-Headers': 'ETag',
    });
    expect(corsHeaders(rules, 'https://a.example', 'PUT')).toBeUndefined();
    expect(corsHeaders(rules, 'https://evil.test', 'GET')).toBeUndefined();
    expect(corsHeaders(rules, 'https://a.example', 'GET', ['authorization'])).toBeUndefined();
    expect(corsHeaders(rules, undefined, 'GET')).toBeUndefined();
  });

  it('matches source addresses by CIDR, including IPv4-mapped IPv6', () => {
    expect(sourceAllowed(['10.0.0.0/8'], '10.2.3.4')).toBe(true);
    expect(sourceAllowed(['10.0.0.0/8'], '::ffff:10.2.3.4')).toBe(true);
    expect(sourceAllowed(['10.0.0.0/8'], '11.0.0.1')).toBe(false);
    expect(sourceAllowed(['127.0.0.1'], '127.0.0.1')).toBe(true);
    expect(sourceAllowed(['::1'], '::1')).toBe(true);
    expect(sourceAllowed([], '127.0.0.1')).toBe(false);
    expect(sourceAllowed(['0.0.0.0/0'], undefined)).toBe(false);
  });
});

describe('credentials', () => {
  it('parses a SigV4 Authorization header and x-amz-date', () => {
    const p = parseSigV4(
      `AWS4-HMAC-SHA256 Credential=AKIA0000000000000000/20261130/us-east-1/mediastore/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'a'.repeat(64)}`,
    );
    expect(p).toMatchObject({
      accessKeyId: 'AKIA0000000000000000',
      region: 'us-east-1',
      service: 'mediastore',
      signedHeaders: ['host', 'x-amz-date'],
    });
    expect(parseSigV4('AWS4-HMAC-SHA256 Credential=x')).toBeUndefined();
    expect(parseAmzDate('20261130T040000Z')).toBe(Date.UTC(2026, 10, 30, 4, 0, 0));
    expect(parseAmzDate('2026-11-30')).toBeNaN();
  });

  it('compares tokens by digest', () => {
    expect(tokenMatches('token-1', ['token-0', 'token-1'])).toBe(true);
    expect(tokenMatches('token-', ['token-1'])).toBe(false);
  });

  it('types a PUT without Content-Type from its name', () => {
    expect(typeFromName('a/index.m3u8')).toBe('application/vnd.apple.mpegurl');
    expect(typeFromName('a/seg.TS')).toBe('video/mp2t');
    expect(typeFromName('a/blob')).toBe('application/octet-stream');
  });
});
