/** Entry point for one box (npm start): ingest, manifest worker and reader in one process. */
import { bootstrap } from './bootstrap.js';
import { startNode } from './compose.js';

const rt = bootstrap('wellspring');
const node = await startNode(rt.config, ['ingest', 'manifest', 'reader'], rt.log, rt.metrics);
rt.onShutdown(() => node.stop());
rt.log.info({ http: node.httpPort, rtmp: node.rtmpPort }, 'wellspring running');
