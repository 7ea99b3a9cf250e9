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

/** Set on a command once it has its deadline (a Cluster sends a command again on a redirection). */
const ARMED = Symbol('wellspring.deadline');

/**
 * Gives every command the client sends (single, pipelined, scripts; on a Cluster before its redirections) a
 * deadline of `timeoutMs`, judged after the replies already read. Use instead of ioredis' `commandTimeout`.
 */
export function applyCommandDeadlines(client: DeadlineClient, timeoutMs: number): void {
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command: Command, ...rest: unknown[]): unknown => {
    const c = command as Command & { [ARMED]?: true };
    if (!c[ARMED]) {
      c[ARMED] = true;
      armDeadline(c, timeoutMs);
    }
    return send(command, ...rest);
  };
}

/** Rejects `command` with ioredis' own "Command timed out" (what src/store/errors.ts classifies) when it is due. */
export function armDeadline(command: Pick<Command, 'isSettled' | 'reject'>, timeoutMs: number): void {
  // Unref'd: a command in flight holds its socket, and a settled command's timer must not hold the process.
  setTimeout(() => {
    if (command.isSettled) return;
    // After the poll phase: an answer that came while the process was busy is read before the verdict.
    setImmediate(() => {
      if (!command.isSettled) command.reject(new Error('Command timed out'));
    });
  }, timeoutMs).unref();
}
