/**
 * What one load-client request costs the client process: node:http (a keep-alive Agent) against the lean client
 * (tools/load/raw-http.ts). A node:http server in a child process answers every GET with a 2,600-byte body (a
 * live playlist's size); CONNS loops (default 200), each on its own keep-alive connection, GET in a row for SEC
 * seconds (default 5) with one client, then the other. Prints JSON: requests, client CPU per request (µs) and
 * requests per second per client.
 *
 *   taskset -c 0 npx tsx tools/load/client-cost.ts
 */
import { fork } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawPool } from './raw-http.js';

const CONNS = Number(process.env.CONNS ?? 200);
const SEC = Number(process.env.SEC ?? 5);

if (process.argv[2] === 'server') {
  const body = Buffer.alloc(2600, 65);
  const s = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': body.length });
    res.end(body);
  });
  s.listen(0, '127.0.0.1', () => process.send!((s.address() as AddressInfo).port));
} else {
  const server = fork(process.argv[1]!, ['server'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => server.once('message', (p) => r(p as number)));

  async function run(kind: 'node' | 'raw'): Promise<Record<string, number | string>> {
    let n = 0;
    const end = Date.now() + SEC * 1000;
    const c0 = process.cpuUsage();
    const loop = async (): Promise<void> => {
      if (kind === 'raw') {
        const pool = new RawPool('127.0.0.1', port, 1);
        while (Date.now() < end) if ((await pool.get('/p.m3u8', 5000, false)).status === 200) n++;
        pool.destroy();
        return;
      }
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (Date.now() < end)
        await new Promise<void>((resolve) => {
          const q = request(`http://127.0.0.1:${port}/p.m3u8`, { agent }, (res) => {
            res.on('data', () => undefined);
            res.on('end', () => {
              if (res.statusCode === 200) n++;
              resolve();
            });
          });
          q.on('error', () => resolve());
          q.end();
        });
      agent.destroy();
    };
    await Promise.all(Array.from({ length: CONNS }, loop));
    const cpu = process.cpuUsage(c0);
    return {
      client: kind,
      requests: n,
      cpuMicrosPerRequest: Math.round(((cpu.user + cpu.system) / n) * 10) / 10,
      requestsPerSecond: Math.round(n / SEC),
    };
  }

  const results = [await run('node'), await run('raw')];
  server.kill();
  console.log(
    JSON.stringify(
      {
        tool: 'client-cost',
        config: { connections: CONNS, seconds: SEC, body: 2600, server: 'node:http in a child process' },
        results,
      },
      null,
      2,
    ),
  );
  process.exit(0);
}
