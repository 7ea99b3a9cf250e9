/** Entry point: the ingest role alone. */
import { bootstrap } from './bootstrap.js';
import { startNode } from './compose.js';

const rt = bootstrap('ingest');
const node = await startNode(rt.config, ['ingest'], rt.log, rt.metrics);
rt.onShutdown(() => node.stop());
