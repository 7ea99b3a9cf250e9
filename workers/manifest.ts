/** Entry point: the manifest role alone. */
import { bootstrap } from './bootstrap.js';
import { startNode } from './compose.js';

const rt = bootstrap('manifest');
const node = await startNode(rt.config, ['manifest'], rt.log, rt.metrics);
rt.onShutdown(() => node.stop());
