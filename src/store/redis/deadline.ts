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
 * first. Nothing more: a first version also moved the deadline on by the time the process was stalled (up to 3
 * timeouts); whether that made anything worse under load is not established (decision 023), so only the part whose
 * need is shown stays.
 */
import type { Command } from 'ioredis';

interface DeadlineClient {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
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
  client.sendCommand = (command: Command, ...rest: unknown[]): unknown => {
    const c = command as Command & { [ARMED]?: Promise<unknown> };
    if (c[ARMED] !== c.promise) {
      c[ARMED] = c.promise;
      armDeadline(c, timeoutMs);
    }
    return send(command, ...rest);
  };
}

/**
 * Rejects the current attempt of `command` with ioredis' own "Command timed out" (what src/store/errors.ts
 * classifies) when it is due. The timer is cleared when the attempt settles, so a settled command is not kept.
 */
export function armDeadline(
  command: Pick<Command, 'isSettled' | 'reject' | 'promise'>,
  timeoutMs: number,
): void {
  const attempt = command.promise;
  const pending = (): boolean => !command.isSettled && command.promise === attempt;
  // Unref'd: a command in flight holds its socket; the timer must not hold the process.
  const timer = setTimeout(() => {
    if (!pending()) return;
    // After the poll phase: an answer that came while the process was busy is read before the verdict.
    setImmediate(() => {
      if (pending()) command.reject(new Error('Command timed out'));
    });
  }, timeoutMs).unref();
  const clear = (): void => clearTimeout(timer);
  attempt.then(clear, clear);
}
