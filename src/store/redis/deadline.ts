/**
 * Command deadlines that count only the time this process was awake to read the answer.
 *
 * ioredis' `commandTimeout` is a plain timer per command. If this process stalls past it (a long garbage
 * collection, a CPU taken by other processes), then when the stall ends, the timer phase of the event loop runs
 * before the poll phase reads the replies already waiting in the socket. A healthy Redis's answer then becomes
 * "Command timed out", and the reader answers 503 STORE_UNAVAILABLE while the store is fine. Measured with a real
 * redis-server: a synchronous 1,200 ms stall after sending PING with commandTimeout 1000 failed 5 of 10 commands;
 * a 900 ms stall failed none.
 *
 * Here the deadline's verdict waits for one poll phase (setImmediate), so replies that came during a stall are read
 * first. If the timer itself fired late (the process was stalled), the deadline moves on by that lateness: the
 * stalled time was not Redis's. Bounded: a command is failed at the latest `MAX_FACTOR` times its timeout after it
 * was sent, so a dead Redis is still reported while the process keeps stalling.
 */
import type { Command } from 'ioredis';

/** A timer this much later than due means the process was stalled (normal lateness is a few ms). */
const STALL_MS = 50;
/** The longest a command may wait, as a multiple of its timeout, however much of it the process was stalled. */
const MAX_FACTOR = 3;

interface DeadlineClient {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
}

const armed = new WeakSet<Command>();

/**
 * Gives every command the client sends (single, pipelined, scripts; on a Cluster before its redirections) a
 * deadline of `timeoutMs` of this process's awake time. Use instead of ioredis' `commandTimeout`.
 */
export function applyCommandDeadlines(client: DeadlineClient, timeoutMs: number): void {
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command: Command, ...rest: unknown[]): unknown => {
    if (!armed.has(command)) {
      armed.add(command);
      armDeadline(command, timeoutMs);
    }
    return send(command, ...rest);
  };
}

/** Rejects `command` with ioredis' own "Command timed out" (what src/store/errors.ts classifies) when it is due. */
export function armDeadline(command: Pick<Command, 'isSettled' | 'reject'>, timeoutMs: number): void {
  const sentAt = performance.now();
  const wait = (ms: number): void => {
    const due = performance.now() + ms;
    // Unref'd: a command in flight holds its socket, and a settled command's timer must not hold the process.
    setTimeout(() => {
      if (command.isSettled) return;
      // After the poll phase: an answer that came while the process was busy is read before the verdict.
      setImmediate(() => {
        if (command.isSettled) return;
        // How late this verdict is: the timer's own lateness plus the poll phase it waited for.
        const late = performance.now() - due;
        const left = sentAt + MAX_FACTOR * timeoutMs - performance.now();
        if (late > STALL_MS && left > 0) wait(Math.min(late, timeoutMs, left));
        else command.reject(new Error('Command timed out'));
      });
    }, ms).unref();
  };
  wait(timeoutMs);
}
