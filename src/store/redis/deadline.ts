/**
 * Command deadlines judged after the replies that already came are read.
 *
 * ioredis' `commandTimeout` is a plain timer per command. If this process stalls past it (a long garbage
 * collection, a CPU taken by other processes), then when the stall ends, the timer phase of the event loop runs
 * before the poll phase reads the replies already waiting in the socket. A healthy Redis's answer then becomes
 * "Command timed out", and the reader answers 503 STORE_UNAVAILABLE while the store is fine. Measured with a real
 * redis-server: a synchronous 1,200 ms stall after sending PING with commandTimeout 1000 failed 5 of 10 commands;
 * a 900 ms stall failed none.
 *
 * Here the deadline's verdict waits for one poll phase (setImmediate), so replies that came during a stall are read
 * first; and then on while the connection keeps receiving bytes (a pause of 50 ms ends it, one more deadline at
 * most), because more replies than the kernel's buffers hold come in only as this process reads: 48 reads of 1 MB
 * and a GET behind them, with a 1.3 s stall, all failed with the one-poll wait (standalone and Cluster). A first
 * version instead moved the deadline on by the time the process was stalled (up to 3 timeouts); it was cut back
 * (decision 023). Waiting only while bytes come keeps a frozen Redis reported one poll phase after the deadline.
 */
import type { Command } from 'ioredis';

interface DeadlineClient {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
  /** A standalone connection's socket (ioredis' `stream`). */
  stream?: { bytesRead?: number };
  /** A Cluster's node connections. */
  nodes?: (role?: 'all') => Array<{ stream?: { bytesRead?: number } }>;
}

/** How long replies may pause, while they keep coming, before a due command is judged (see armDeadline). */
const PROGRESS_MS = 50;

/** Bytes the client's connection(s) have read so far; on a Cluster, all its nodes' together. */
function bytesRead(client: DeadlineClient): () => number {
  const nodes = client.nodes;
  if (typeof nodes === 'function')
    return () => nodes.call(client, 'all').reduce((n, node) => n + (node.stream?.bytesRead ?? 0), 0);
  return () => client.stream?.bytesRead ?? 0;
}

/** The attempt (promise) of a command that has its deadline: a pipeline re-sent after a redirection or TRYAGAIN
 * starts a new promise (ioredis' initPromise) and is armed again. */
const ARMED = Symbol('wellspring.deadline');

/**
 * Gives every command the client sends (single, pipelined, scripts; on a Cluster at the cluster and on each node
 * connection, its own commands included) a deadline of `timeoutMs`, judged after the replies already read. Use
 * instead of ioredis' `commandTimeout`.
 */
export function applyCommandDeadlines(client: DeadlineClient, timeoutMs: number): void {
  const send = client.sendCommand.bind(client);
  const received = bytesRead(client);
  client.sendCommand = (command: Command, ...rest: unknown[]): unknown => {
    const c = command as Command & { [ARMED]?: Promise<unknown> };
    if (c[ARMED] !== c.promise) {
      c[ARMED] = c.promise;
      armDeadline(c, timeoutMs, received);
    }
    return send(command, ...rest);
  };
}

/**
 * Rejects the current attempt of `command` with ioredis' own "Command timed out" (what src/store/errors.ts
 * classifies) when it is due. The timer is cleared when the attempt settles, so a settled command is not kept.
 *
 * The verdict waits one poll phase, so an answer that came while the process was busy is read first. With
 * `received` (bytes the connection has read so far), it waits on while replies keep coming: after a stall, more
 * replies than the kernel's buffers hold (a burst of media reads) reach this process only as it reads them, so
 * the command's own may come polls later. A pause of PROGRESS_MS without a byte, or one more `timeoutMs` after
 * the due timer ran (so at most two deadlines plus the stall), ends the wait; a frozen Redis sends nothing, so it
 * is still reported one poll phase after the deadline.
 */
export function armDeadline(
  command: Pick<Command, 'isSettled' | 'reject' | 'promise'>,
  timeoutMs: number,
  received?: () => number,
): void {
  const attempt = command.promise;
  const pending = (): boolean => !command.isSettled && command.promise === attempt;
  // Unref'd: a command in flight holds its socket; the timer must not hold the process.
  const timer = setTimeout(() => {
    if (!pending()) return;
    const until = performance.now() + timeoutMs;
    let seen = received?.() ?? 0;
    const judge = (): void => {
      if (!pending()) return;
      const now = received?.() ?? 0;
      if (now > seen && performance.now() < until) {
        seen = now;
        // Judged after a poll phase again: bytes that came during a stall in between are read first.
        setTimeout(() => setImmediate(judge), PROGRESS_MS).unref();
        return;
      }
      command.reject(new Error('Command timed out'));
    };
    // After the poll phase: an answer that came while the process was busy is read before the verdict.
    setImmediate(judge);
  }, timeoutMs).unref();
  const clear = (): void => clearTimeout(timer);
  attempt.then(clear, clear);
}
