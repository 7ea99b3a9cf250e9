/** tools/load/observe.ts coresByRole: the window's CPU time of every thread, by the role of its process. */
import { describe, expect, it } from 'vitest';
import { coresByRole, machineCpuSeconds } from '../../tools/load/observe.js';

const snap = (rows: Array<[string, number]>): Map<string, { ns: number; comm: string }> =>
  new Map(rows.map(([id, ns]) => [id, { ns, comm: 'x' }]));

describe('coresByRole', () => {
  it('sums threads by role over the window, the split process by main thread and the rest', () => {
    const before = snap([
      ['10/10', 1e9],
      ['10/11', 0],
      ['20/20', 5e9],
      ['30/30', 0],
      ['99/99', 0],
    ]);
    const after = snap([
      ['10/10', 3e9], // reader main: 2 s
      ['10/11', 1e9], // reader helper: 1 s
      ['10/12', 0.5e9], // reader thread born in the window: 0.5 s
      ['20/20', 6e9], // client: 1 s
      ['21/21', 1e9], // client's child, new: 1 s
      ['30/30', 0], // idle
      ['99/99', 0.25e9], // not ours: other
    ]);
    const roles = new Map([
      [10, 'reader'],
      [20, 'load clients'],
      [21, 'load clients'],
      [30, 'redis-server'],
    ]);
    const r = coresByRole(before, after, roles, 2, new Set([10]));
    expect(r).toEqual({
      'reader main': 1,
      'load clients': 1,
      'reader other threads': 0.75,
      other: 0.125,
      'redis-server': 0,
    });
    // Busiest first.
    expect(Object.keys(r)[0]).toBe('reader main');
  });

  it('reads the machine from /proc/stat', () => {
    const m = machineCpuSeconds();
    expect(m.total).toBeGreaterThan(m.busy);
    expect(m.busy).toBeGreaterThan(0);
  });
});
