/** npm run source -- URL: publishes the stamped test source (rtmp:// or srt://) until stopped. */
import { StampedSource } from '../tools/source/stamped-source.js';

const url = process.argv[2];
if (!url) {
  process.stderr.write(
    'usage: npm run source -- rtmp://HOST:1935/live/NAME | srt://HOST:PORT?passphrase=...\n',
  );
  process.exit(2);
}
const source = new StampedSource({ url });
source.start();
const stop = async (): Promise<void> => {
  await source.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
const code = await source.done;
process.exit(code ?? 1);
