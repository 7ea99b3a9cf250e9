/**
 * What an object API request names, from its raw URL, pure. Path safety is decided here, before anything
 * touches the store: a percent-encoded slash or backslash, a "." or ".." segment (plain or encoded), or a name
 * outside MediaStore's characters is a 400 with the reason (logged by the caller).
 *
 * Layouts (an SDK endpoint may or may not carry the container):
 *   PUT|GET|HEAD|DELETE /{container}/{path...}    an object
 *   GET /{container}/?Path=folder                 ListItems in the container (endpoint http://host:8090/{container})
 *   GET /?Path={container}/folder                 ListItems (endpoint http://host:8090)
 */
import { objectPathProblem, splitObjectPath } from '../../../store/object-path.js';

export type Target =
  | { kind: 'object'; path: string; container: string; rest: string; query: URLSearchParams }
  | { kind: 'list'; folder: string; container: string; query: URLSearchParams };

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

function decodeSegments(raw: string): string[] {
  return raw.split('/').map((s) => {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw new TargetError('undecodable percent-encoding');
    }
    if (d.includes('/') || d.includes('\\')) throw new TargetError('encoded slash in path');
    return d;
  });
}

export function parseTarget(url: string | undefined): Target {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  if (!rawPath.startsWith('/')) throw new TargetError('path must start with /');
  const segs = decodeSegments(rawPath.slice(1));
  const isFolder = segs[segs.length - 1] === '';
  if (isFolder) {
    // "/" or "/{container}/": a listing.
    const base = segs.slice(0, -1).join('/');
    const sub = (query.get('Path') ?? '').replace(/^\/+|\/+$/g, '');
    const folder = [base, sub].filter(Boolean).join('/');
    if (folder === '') throw new TargetError('a listing needs a container (endpoint /{container} or Path)');
    const problem = objectPathProblem(folder, true);
    if (problem) throw new TargetError(problem);
    return { kind: 'list', folder, container: splitObjectPath(folder, true).container, query };
  }
  const path = segs.join('/');
  const problem = objectPathProblem(path);
  if (problem) throw new TargetError(problem);
  const { container, rest } = splitObjectPath(path);
  return { kind: 'object', path, container, rest, query };
}

/** A single `bytes=` range over `size` bytes: inclusive bounds, 'unsatisfiable', or undefined (whole object). */
export function parseByteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // not a form we serve: the whole object (RFC 9110)
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
