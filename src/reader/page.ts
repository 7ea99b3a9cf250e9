/**
 * The page at "/": lists live streams and plays one with hls.js through MSE (forced, since Chromium claims
 * native HLS support it does not have), in low-latency mode. Exposes window.wellspring for the browser tests.
 */
import { manifestName } from '../core/index.js';

export function demoPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Wellspring</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; background: #0e1116; color: #e6e6e6; }
  a { color: #7cc4ff; } video { width: 100%; max-width: 960px; background: #000; display: block; }
  #streams li { margin: .25rem 0; } code { background: #1b2027; padding: 0 .3rem; border-radius: 3px; }
  #stats { font-family: ui-monospace, monospace; white-space: pre; margin-top: .5rem; }
</style>
</head>
<body>
<h1>Wellspring</h1>
<p>Live streams on this origin. Publish with <code>ffmpeg -re -i input -c:v libx264 -c:a aac -f flv rtmp://HOST:1935/live/NAME</code>.</p>
<ul id="streams"><li>loading…</li></ul>
<video id="video" controls muted playsinline></video>
<div id="stats"></div>
<script src="/vendor/hls.min.js"></script>
<script>
const state = { stalls: 0, stalledMs: 0, stallStart: 0, playing: false, errors: [], stream: null, hls: null };
window.wellspring = state;
const video = document.getElementById('video');
video.addEventListener('waiting', () => { if (state.playing && !state.stallStart) { state.stalls++; state.stallStart = performance.now(); } });
video.addEventListener('playing', () => { state.playing = true; if (state.stallStart) { state.stalledMs += performance.now() - state.stallStart; state.stallStart = 0; } });
function play(name, lowLatency) {
  if (state.hls) state.hls.destroy();
  state.stream = name; state.playing = false; state.stalls = 0; state.stalledMs = 0;
  const hls = new Hls({ lowLatencyMode: lowLatency, maxLiveSyncPlaybackRate: lowLatency ? 1.1 : 1 });
  state.hls = hls;
  hls.on(Hls.Events.ERROR, (_e, d) => { state.errors.push(d.details + (d.fatal ? ' (fatal)' : '')); if (d.fatal) { if (d.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad(); else if (d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError(); } });
  hls.loadSource('/live/' + encodeURIComponent(name) + '/${manifestName.master}');
  hls.attachMedia(video);
  video.play().catch(() => undefined);
}
async function refresh() {
  const r = await fetch('/streams').then((x) => x.json()).catch(() => ({ streams: [] }));
  const ul = document.getElementById('streams');
  ul.innerHTML = '';
  if (r.streams.length === 0) ul.innerHTML = '<li>no streams yet</li>';
  for (const s of r.streams) {
    const li = document.createElement('li');
    li.innerHTML = '<b></b> (<span></span>) — <a href="#">play LL-HLS</a> · <a href="#">play HLS</a> · <a></a> · <a></a>';
    li.querySelector('b').textContent = s.name;
    li.querySelector('span').textContent = s.state;
    const [ll, classic, hlsUrl, dash] = li.querySelectorAll('a');
    ll.onclick = (e) => { e.preventDefault(); play(s.name, true); };
    classic.onclick = (e) => { e.preventDefault(); play(s.name, false); };
    hlsUrl.href = s.hls; hlsUrl.textContent = 'HLS URL';
    dash.href = s.dash; dash.textContent = 'DASH URL';
    ul.appendChild(li);
  }
  const auto = new URLSearchParams(location.search).get('play');
  if (!state.stream && r.streams.length) play(auto || r.streams[0].name, new URLSearchParams(location.search).get('ll') !== '0');
}
setInterval(() => {
  const h = state.hls;
  document.getElementById('stats').textContent = h ? 'stream ' + state.stream + '  latency ' + (h.latency || 0).toFixed(2) + ' s  level ' + h.currentLevel + '  stalls ' + state.stalls + '  buffered ' + (video.buffered.length ? (video.buffered.end(video.buffered.length - 1) - video.currentTime).toFixed(2) : 0) + ' s' : '';
}, 500);
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
`;
}
