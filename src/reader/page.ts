/**
 * The page at "/": lists live streams and plays one with hls.js through MSE (forced, since Chromium claims
 * native HLS support it does not have), in low-latency mode. Exposes window.wellspring for the browser tests.
 *
 * Below the player, the operator dashboard (issue #12), behind a control API token entered once and kept in
 * sessionStorage: the streams with their health from /api/v1/streams, a muted preview player per live stream,
 * live charts of ingest bitrate and transcoder speed (inline SVG, no dependency), kick/disable/enable, and the
 * recent operations events from /api/v1/events, read with fetch streaming so the token travels in the
 * Authorization header, never in a URL. Exposes window.wellspringOps for the browser tests.
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
  #ops { margin-top: 2rem; border-top: 1px solid #2a313b; padding-top: 1rem; }
  #ops table { border-collapse: collapse; font-size: 13px; } #ops td, #ops th { padding: .2rem .5rem; border-bottom: 1px solid #222a33; text-align: left; }
  #ops .cards { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
  #ops .card { background: #151a21; padding: .5rem; border-radius: 6px; width: 340px; }
  #ops .card video { width: 320px; height: 180px; }
  #ops svg { background: #0b0e12; display: block; margin-top: .25rem; } #ops .err { color: #ff8a80; }
  #events { font-family: ui-monospace, monospace; font-size: 12px; max-height: 16rem; overflow: auto; list-style: none; padding: 0; }
  #events li { border-bottom: 1px solid #1b2027; padding: .1rem 0; }
  button { background: #243040; color: #e6e6e6; border: 1px solid #3a4a5e; border-radius: 3px; cursor: pointer; }
</style>
</head>
<body>
<h1>Wellspring</h1>
<p>Live streams on this origin. Publish with <code>ffmpeg -re -i input -c:v libx264 -c:a aac -f flv rtmp://HOST:1935/live/NAME</code>.</p>
<ul id="streams"><li>loading…</li></ul>
<video id="video" controls muted playsinline></video>
<div id="stats"></div>
<section id="ops">
<h2>Operations</h2>
<form id="login"><label>Control API token <input id="token" type="password" autocomplete="off" size="40"></label> <button id="login-button" type="submit">Open</button> <span id="ops-status"></span></form>
<table id="ops-streams" hidden><thead><tr><th>stream</th><th>state</th><th>publisher</th><th>ingest</th><th>fps</th><th>speed</th><th>drops</th><th>restarts</th><th>last segment</th><th></th></tr></thead><tbody></tbody></table>
<div class="cards" id="cards"></div>
<h3>Events</h3>
<ul id="events"></ul>
</section>
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

const ops = { token: sessionStorage.getItem('wellspring.token') || '', streams: [], events: [], samples: {}, previews: {}, error: null, feed: false };
window.wellspringOps = ops;
const $ = (id) => document.getElementById(id);
function api(path, init) {
  return fetch('/api/v1' + path, Object.assign({}, init, { headers: { Authorization: 'Bearer ' + ops.token } }));
}
$('login').onsubmit = (e) => { e.preventDefault(); ops.token = $('token').value.trim(); sessionStorage.setItem('wellspring.token', ops.token); startOps(); };
function cell(tr, text) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td; }
const fmt = (v, unit, d) => (v === null || v === undefined ? '–' : (v / d).toFixed(unit === 'x' ? 2 : 0) + ' ' + unit);
function chart(values, max, color) {
  const w = 320, h = 50, n = 60;
  const pts = values.slice(-n).map((v, i, a) => (i * w / (n - 1)).toFixed(1) + ',' + (h - Math.min(v, max) / max * (h - 2) - 1).toFixed(1)).join(' ');
  return '<svg width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + ' ' + h + '"><polyline fill="none" stroke="' + color + '" stroke-width="1.5" points="' + pts + '"/></svg>';
}
function preview(name, live) {
  const p = ops.previews[name];
  if (!live) { if (p) { p.hls.destroy(); delete ops.previews[name]; } return; }
  if (p || Object.keys(ops.previews).length >= 4) return;
  const video = document.createElement('video');
  video.muted = true; video.playsInline = true; video.dataset.preview = name;
  const hls = new Hls({ lowLatencyMode: true });
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal && d.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad(); else if (d.fatal) hls.recoverMediaError(); });
  hls.loadSource('/live/' + encodeURIComponent(name) + '/master.m3u8');
  hls.attachMedia(video);
  video.play().catch(() => undefined);
  ops.previews[name] = { hls, video };
}
async function act(name, action) {
  const r = await api('/streams/' + encodeURIComponent(name) + '/' + action, { method: 'POST' });
  $('ops-status').textContent = r.ok ? action + ' ' + name : await r.text();
}
async function pollStreams() {
  let r;
  try { r = await api('/streams'); } catch (e) { $('ops-status').textContent = 'API unreachable'; return; }
  if (r.status === 401) { ops.error = 'unauthorized'; $('ops-status').textContent = 'token refused'; $('ops-status').className = 'err'; return; }
  if (!r.ok) { $('ops-status').textContent = await r.text(); return; }
  ops.error = null; $('ops-status').textContent = ''; $('ops-status').className = '';
  ops.streams = (await r.json()).streams;
  const tbody = $('ops-streams').querySelector('tbody');
  tbody.innerHTML = ''; $('ops-streams').hidden = false;
  const cards = $('cards');
  for (const s of ops.streams) {
    const h = s.health;
    const sm = ops.samples[s.name] || (ops.samples[s.name] = { bitrate: [], speed: [] });
    if (h) { sm.bitrate.push((h.ingestBitrateBps || 0) / 1000); sm.speed.push(h.transcoderSpeed || 0); }
    const tr = document.createElement('tr'); tr.dataset.stream = s.name;
    cell(tr, s.name); cell(tr, s.disabled ? 'disabled' : s.state);
    cell(tr, h ? h.protocol + (h.publisherAddress ? ' ' + h.publisherAddress : '') : '–');
    cell(tr, h ? fmt(h.ingestBitrateBps, 'kb/s', 1000) : '–'); cell(tr, h && h.ingestFps !== null ? String(h.ingestFps) : '–');
    cell(tr, h ? fmt(h.transcoderSpeed, 'x', 1) : '–'); cell(tr, h && h.droppedFrames !== null ? String(h.droppedFrames) : '–');
    cell(tr, h ? String(h.transcoderRestarts) : '–');
    cell(tr, h && h.lastSegmentAt ? ((Date.now() - Date.parse(h.lastSegmentAt)) / 1000).toFixed(1) + ' s ago' : '–');
    const td = cell(tr, '');
    for (const a of ['kick', s.disabled ? 'enable' : 'disable']) { const b = document.createElement('button'); b.textContent = a; b.dataset.action = a; b.onclick = () => act(s.name, a); td.appendChild(b); }
    tbody.appendChild(tr);
    let card = cards.querySelector('[data-card="' + s.name + '"]');
    const live = !!h && !s.disabled;
    if (live && !card) { card = document.createElement('div'); card.className = 'card'; card.dataset.card = s.name; card.innerHTML = '<b></b><div class="v"></div><div class="c"></div>'; card.querySelector('b').textContent = s.name; cards.appendChild(card); }
    if (!live && card) { card.remove(); card = null; }
    preview(s.name, live);
    if (card) {
      const p = ops.previews[s.name];
      if (p && !p.video.parentNode) card.querySelector('.v').appendChild(p.video);
      const maxB = Math.max(100, ...sm.bitrate) * 1.2;
      card.querySelector('.c').innerHTML = 'ingest kb/s' + chart(sm.bitrate, maxB, '#7cc4ff') + 'transcoder speed' + chart(sm.speed, 2, '#9be28f');
    }
  }
}
function showEvent(ev) {
  ops.events.push(ev);
  if (ops.events.length > 200) ops.events.shift();
  const li = document.createElement('li'); li.dataset.type = ev.type;
  li.textContent = new Date(ev.at).toLocaleTimeString() + '  ' + ev.type + '  ' + (ev.stream || '') + (ev.data ? '  ' + JSON.stringify(ev.data) : '');
  const ul = $('events'); ul.insertBefore(li, ul.firstChild);
  while (ul.children.length > 100) ul.removeChild(ul.lastChild);
}
async function follow() {
  let last = null;
  for (;;) {
    try {
      const headers = { Authorization: 'Bearer ' + ops.token };
      if (last) headers['Last-Event-ID'] = last;
      const r = await fetch('/api/v1/events' + (last ? '' : '?history=20'), { headers });
      if (!r.ok || !r.body) throw new Error('events ' + r.status);
      ops.feed = true;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\\n\\n')) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = frame.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n');
          const id = frame.split('\\n').find((l) => l.startsWith('id: '));
          if (id) last = id.slice(4);
          if (data) showEvent(JSON.parse(data));
        }
      }
    } catch (e) { ops.feed = false; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
let opsStarted = false;
function startOps() {
  if (!ops.token) return;
  pollStreams();
  if (opsStarted) return;
  opsStarted = true;
  setInterval(pollStreams, 2000);
  follow();
}
startOps();
</script>
</body>
</html>
`;
}
