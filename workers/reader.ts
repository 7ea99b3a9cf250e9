/** Entry point: the reader role alone. */
import { bootstrap } from './bootstrap.js';
import { startNode } from './compose.js';

const rt = bootstrap('reader');
const node = await startNode(rt.config, ['reader'], rt.log, rt.metrics);
rt.onShutdown(() => node.stop());
