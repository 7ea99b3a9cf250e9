/**
 * Entry point: the reader role alone.
 *
 * With `http.acceptor: "process"` this process only accepts connections and hands each one to a reader process
 * it forks (Node's cluster module, round-robin): Node 20 accepts one connection per event-loop turn, and a busy
 * reader's turns are long, so a burst of new connections waited seconds to be accepted (decision 024). This
 * process stops with its reader: SIGTERM or SIGINT stops the reader in order, and a reader that exits on its own
 * ends this process with an error, for the supervisor to restart both. A reader whose parent dies exits too
 * (the cluster module's IPC channel closes).
 */
import cluster from 'node:cluster';
import { once } from 'node:events';
import { bootstrap } from './bootstrap.js';
import { startNode } from './compose.js';

const rt = bootstrap('reader');
if (rt.config.http.acceptor === 'process' && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const reader = cluster.fork();
  let stopping = false;
  reader.on('exit', (code, signal) => {
    if (stopping) return;
    rt.log.error({ code, signal, pid: reader.process.pid }, 'reader process exited; the acceptor stops too');
    process.exit(1);
  });
  rt.log.info({ pid: reader.process.pid }, 'acceptor: reader process started');
  rt.onShutdown(async () => {
    stopping = true;
    if (reader.isDead()) return;
    const exited = once(reader, 'exit');
    reader.process.kill('SIGTERM');
    await exited;
  });
} else {
  if (cluster.isWorker) {
    // Stopped by its acceptor only: a terminal's Ctrl-C reaches the whole process group, and the acceptor's
    // SIGTERM after it would be a second signal, which forces an exit.
    process.removeAllListeners('SIGINT');
    process.on('SIGINT', () => undefined);
  }
  const node = await startNode(rt.config, ['reader'], rt.log, rt.metrics);
  rt.onShutdown(() => node.stop());
}
