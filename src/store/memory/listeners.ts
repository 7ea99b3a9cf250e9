import type { Subscription } from '../ports.js';

/**
 * Adds `fn` to the listeners kept under `key` and returns its subscription (ready at once, as in-process delivery
 * is); closing it removes the listener, and the key once it has none left.
 */
export function listenIn<K, F>(byKey: Map<K, Set<F>>, key: K, fn: F): Subscription {
  let set = byKey.get(key);
  if (!set) {
    set = new Set();
    byKey.set(key, set);
  }
  set.add(fn);
  const s = set;
  return {
    ready: Promise.resolve(),
    close: () => {
      s.delete(fn);
      if (s.size === 0 && byKey.get(key) === s) byKey.delete(key);
    },
  };
}
