/**
 * Object API paths (issue #10): "container/folder/.../name", the rule MediaStore had: 1-900 characters, folder
 * and object names of letters, digits, period, underscore, tilde and hyphen, at most 10 folders deep. No empty,
 * "." or ".." segment. Checked before a path becomes a key, so no path can name another key or escape its
 * container. Pure.
 */
export const OBJECT_SEGMENT = /^[A-Za-z0-9_.~-]{1,255}$/;
export const MAX_OBJECT_PATH = 900;
export const MAX_OBJECT_DEPTH = 10;

/** Why a path is refused, or undefined when it is safe. `folder` allows a container alone (listing). */
export function objectPathProblem(path: string, folder = false): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.length > MAX_OBJECT_PATH) return `path longer than ${MAX_OBJECT_PATH} characters`;
  const segs = path.split('/');
  if (!folder && segs.length < 2) return 'a path needs a container and an object name';
  if (segs.length > MAX_OBJECT_DEPTH + 2) return `more than ${MAX_OBJECT_DEPTH} folders`;
  for (const s of segs) {
    if (s === '') return 'empty path segment';
    if (s === '.' || s === '..') return `"${s}" segment`;
    if (!OBJECT_SEGMENT.test(s)) return 'characters outside A-Z a-z 0-9 . _ ~ -';
  }
  return undefined;
}

export class UnsafeObjectPathError extends Error {
  override readonly name = 'UnsafeObjectPathError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`unsafe object path: ${reason}`);
  }
}

/** Splits a safe path into its container and the rest; throws UnsafeObjectPathError otherwise. */
export function splitObjectPath(path: string, folder = false): { container: string; rest: string } {
  const p = objectPathProblem(path, folder);
  if (p) throw new UnsafeObjectPathError(path, p);
  const i = path.indexOf('/');
  return i < 0 ? { container: path, rest: '' } : { container: path.slice(0, i), rest: path.slice(i + 1) };
}

/** The folders a path's object is listed in, with the item name in each: "c/a/x" -> [["", "a/"], ["a/", "x"]]. */
export function folderEntries(rest: string): Array<[folder: string, item: string]> {
  const segs = rest.split('/');
  const out: Array<[string, string]> = [];
  let folder = '';
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    out.push([folder, last ? s : `${s}/`]);
    folder += `${s}/`;
  });
  return out;
}
