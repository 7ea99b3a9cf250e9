/**
 * Captions and audio tracks (#14): what ffmpeg's input dump says, the transcoder arguments for several audio
 * tracks, the CEA-608 SEI tool, and the signalling in the multivariant playlist and the MPDs read back by
 * m3u8-parser and mpd-parser (the golden scenarios "captions" and "audio-languages", production renderer).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import { audioRenditionName, audioTrackIndex, buildTranscodeArgs } from '../../src/adapters/ffmpeg/args.js';
import {
  InputDumpParser,
  type SourceDescription,
  audioStreams,
  hasClosedCaptions,
  splitLogLine,
} from '../../src/adapters/ffmpeg/input-dump.js';
import { parseConfig, streamSettings } from '../../src/config.js';
import { buildMultivariant, marshalPlaylist } from '../../src/core/index.js';
import {
  captionSchedule,
  captionSei,
  insertCaptions,
  oddParity,
  popOnPairs,
} from '../../tools/source/cea608.js';
import { fixturePath } from '../support/fixtures.js';
import { type Scenario, renderScenario } from '../support/scenario.js';

/** stderr of `ffmpeg -loglevel level+info` reading fixtures/captions-2audio.mpegts (ffmpeg 5.1, trimmed). */
const DUMP = `[info] Input #0, mpegts, from 'pipe:0':
[info]   Duration: N/A, start: 1.400000, bitrate: N/A
[info]   Program 1 
[info]     Metadata:
[info]       service_name    : Service01
[info]   Stream #0:0[0x100]: Video: h264 (Main) ([27][0][0][0] / 0x001B), yuv420p(progressive), 320x180 [SAR 1:1 DAR 16:9], Closed Captions, 30 fps, 30 tbr, 90k tbn
[info]   Stream #0:1[0x101](eng): Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp, 49 kb/s
[info]   Stream #0:2[0x102](spa): Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp, 49 kb/s
[info] Stream mapping:
[info]   Stream #0:0 (h264) -> fps:default
[libx264 @ 0x560ec72507c0] [info] using SAR=1/1
[mpegts @ 0x55d0c0e1a2c0] [warning] Packet corrupt (stream = 0, dts = 1234).`;

function parseDump(text: string): SourceDescription | undefined {
  const p = new InputDumpParser();
  let out: SourceDescription | undefined;
  for (const line of text.split('\n')) {
    const { level, text: t } = splitLogLine(line);
    if (level === 'info') out = p.push(t) ?? out;
  }
  return out;
}

describe("ffmpeg's input dump", () => {
  it('gives each stream its kind, language tag and whether the video carries captions', () => {
    const d = parseDump(DUMP)!;
    expect(d.streams.map((s) => [s.kind, s.language, s.closedCaptions])).toEqual([
      ['video', undefined, true],
      ['audio', 'eng', false],
      ['audio', 'spa', false],
    ]);
    expect(audioStreams(d).map((a) => a.language)).toEqual(['eng', 'spa']);
    expect(hasClosedCaptions(d)).toBe(true);
  });

  it('reads an untagged FLV source (RTMP) as one video without captions and one audio without language', () => {
    const d = parseDump(`[info] Input #0, flv, from 'pipe:0':
[info]   Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(progressive), 640x360, 30 fps, 30 tbr, 1k tbn
[info]   Stream #0:1(und): Audio: aac (LC), 48000 Hz, stereo, fltp
[info] Output #0, mp4, to 'pipe:3':`)!;
    expect(hasClosedCaptions(d)).toBe(false);
    expect(audioStreams(d)).toEqual([
      { input: 0, index: 1, kind: 'audio', language: undefined, closedCaptions: false },
    ]);
  });

  it('splits the level tag off, keeps the context prefix, and passes untagged lines through', () => {
    expect(splitLogLine('[mpegts @ 0x55d0c0e1a2c0] [warning] Packet corrupt')).toEqual({
      level: 'warning',
      text: '[mpegts @ 0x55d0c0e1a2c0] Packet corrupt',
    });
    expect(splitLogLine('[error] pipe:0: Invalid data')).toEqual({
      level: 'error',
      text: 'pipe:0: Invalid data',
    });
    expect(splitLogLine('plain text')).toEqual({ level: undefined, text: 'plain text' });
  });

  it('gives what was listed when ffmpeg stops before its output section (a -map matching no stream)', () => {
    const p = new InputDumpParser();
    expect(p.finish()).toBeUndefined();
    p.push("Input #0, mpegts, from 'pipe:0':");
    p.push('  Stream #0:1[0x101](eng): Audio: aac (LC), 48000 Hz, mono, fltp');
    expect(p.finish()?.streams.map((s) => s.language)).toEqual(['eng']);
    expect(p.finish()).toBeUndefined();
    expect(p.push('Stream mapping:')).toBeUndefined();
  });

  it('says nothing until the dump is complete, and only once', () => {
    const p = new InputDumpParser();
    expect(p.push("Input #0, mpegts, from 'pipe:0':")).toBeUndefined();
    expect(p.push('  Stream #0:0[0x100]: Video: h264 (Main), yuv420p, 320x180, 30 fps')).toBeUndefined();
    expect(p.push('Stream mapping:')?.streams).toHaveLength(1);
    expect(p.push("Output #0, mp4, to 'pipe:3':")).toBeUndefined();
  });
});

describe('transcoder arguments for several audio tracks', () => {
  const settings = streamSettings(parseConfig({}), 'a');
  const spec = {
    input: { kind: 'mpegts-stdin' as const },
    ladder: settings.ladder,
    audio: true,
    audioBitrateK: 96,
    segmentSec: 2,
    partSec: 0.2,
    fps: 30,
  };

  it('maps source audio track i to its own AAC output and rendition, after the video outputs', () => {
    const { args, outputs } = buildTranscodeArgs({ ...spec, audioTracks: 2 });
    expect(outputs.map((o) => [o.rendition, o.kind, o.fd])).toEqual([
      ['720p', 'video', 3],
      ['480p', 'video', 4],
      ['360p', 'video', 5],
      ['audio', 'audio', 6],
      ['audio-2', 'audio', 7],
    ]);
    const maps = args.flatMap((a, i) => (a === '-map' ? [args[i + 1]] : []));
    expect(maps.slice(3)).toEqual(['0:a:0', '0:a:1']);
    expect(args.filter((a) => a === '-c:a')).toHaveLength(2);
    expect(args[args.indexOf('-loglevel') + 1]).toBe('level+info');
  });

  it('names audio renditions by source track and reads the track back from the name (rendition order)', () => {
    expect([0, 1, 2].map(audioRenditionName)).toEqual(['audio', 'audio-2', 'audio-3']);
    expect(['audio', 'audio-2', 'audio-3', '360p'].map(audioTrackIndex)).toEqual([0, 1, 2, 0]);
  });

  it('makes exactly one "audio" rendition by default', () => {
    const one = buildTranscodeArgs(spec);
    expect(one.outputs.filter((o) => o.kind === 'audio').map((o) => o.rendition)).toEqual(['audio']);
    expect(buildTranscodeArgs({ ...spec, audioTracks: 1 }).args).toEqual(one.args);
  });

  it('is configured per SRT or watch-folder stream (default 1), never more than 4', () => {
    const cfg = parseConfig({
      streams: [
        { name: 'a', ingest: { type: 'srt', port: 9000, audioTracks: 2 } },
        { name: 'b', ingest: { type: 'watch', dir: '/tmp/x' } },
      ],
    });
    expect(cfg.streams.map((s) => (s.ingest as { audioTracks?: number }).audioTracks)).toEqual([2, 1]);
    expect(() =>
      parseConfig({ streams: [{ name: 'a', ingest: { type: 'srt', port: 9000, audioTracks: 5 } }] }),
    ).toThrow(/audioTracks/);
  });
});

describe('CEA-608 SEI tool', () => {
  it('sets odd parity on every byte', () => {
    for (let b = 0; b < 128; b++) {
      const p = oddParity(b);
      expect(p & 0x7f).toBe(b);
      expect([...p.toString(2)].filter((c) => c === '1').length % 2).toBe(1);
    }
  });

  it('builds a GA94 user_data_registered_itu_t_t35 SEI with one CC1 pair', () => {
    const sei = [...captionSei([0x14, 0x20])];
    expect(sei.slice(0, 7)).toEqual([0, 0, 0, 1, 0x06, 0x04, 14]);
    // country 0xB5, provider 0x0031, 'GA94', type 3, cc_count 1, em_data, cc_valid field 1, the pair, markers
    expect(sei.slice(7)).toEqual([
      0xb5, 0, 0x31, 0x47, 0x41, 0x39, 0x34, 3, 0x41, 0xff, 0xfc, 0x94, 0x20, 0xff, 0x80,
    ]);
  });

  it('puts one SEI before the first slice of every picture and none before parameter sets', () => {
    const sps = [0, 0, 0, 1, 0x67, 0x42, 0x00];
    const idr = [0, 0, 0, 1, 0x65, 0x88, 0x11];
    const p = [0, 0, 1, 0x41, 0x9a, 0x22];
    const out = [...insertCaptions(Uint8Array.from([...sps, ...idr, ...p]), () => null)];
    const seiAt = (from: number) =>
      out.findIndex((_, i) => i >= from && out[i + 4] === 0x06 && out[i + 3] === 1);
    const first = seiAt(0);
    expect(first).toBe(sps.length);
    expect(out.slice(first + 4 + 17 + 1, first + 4 + 17 + 5)).toEqual([0, 0, 0, 1]);
    expect(out.filter((b, i) => b === 0x06 && out[i - 1] === 1 && out[i - 2] === 0).length).toBe(2);
  });

  it('schedules a pop-on caption every N pictures: load, text, erase, show, then padding', () => {
    const pairs = popOnPairs('HI');
    expect(pairs).toEqual([
      [0x14, 0x20],
      [0x14, 0x20],
      [0x14, 0x60],
      [0x14, 0x60],
      [0x48, 0x49],
      [0x14, 0x2c],
      [0x14, 0x2c],
      [0x14, 0x2f],
      [0x14, 0x2f],
    ]);
    const at = captionSchedule(['HI', 'YO'], 60);
    expect(at(4)).toEqual([0x48, 0x49]);
    expect(at(20)).toBeNull();
    expect(at(64)).toEqual([0x59, 0x4f]);
    expect(() => popOnPairs('é')).toThrow(/basic CEA-608/);
  });
});

const scenario = (name: string): Scenario =>
  JSON.parse(readFileSync(join(fixturePath('manifests'), name, 'input.json'), 'utf8')) as Scenario;

function parseM3u8(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as {
    mediaGroups: Record<string, Record<string, Record<string, Record<string, unknown>>>>;
    playlists: Array<{ attributes: Record<string, unknown>; uri: string }>;
  };
}

describe('signalling read back', () => {
  it('captions: a CLOSED-CAPTIONS group with INSTREAM-ID CC1 that every variant names', () => {
    const files = renderScenario(scenario('captions'));
    const m = parseM3u8(files.get('master.m3u8')!.body);
    expect(m.mediaGroups['CLOSED-CAPTIONS']).toEqual({
      cc: { CC1: { default: false, autoselect: true, language: 'eng', instreamId: 'CC1' } },
    });
    expect(m.playlists).toHaveLength(2);
    for (const v of m.playlists) expect(v.attributes['CLOSED-CAPTIONS']).toBe('cc');
    for (const mpd of ['manifest.mpd', 'manifest-ll.mpd']) {
      const text = files.get(mpd)!.body;
      expect(text).toContain('<Accessibility schemeIdUri="urn:scte:dash:cc:cea-608:2015" value="CC1=eng"/>');
      const parsed = parseMpd(text, { manifestUri: 'http://x/m.mpd', NOW: Date.now(), clientOffset: 0 });
      expect(parsed.mediaGroups['CLOSED-CAPTIONS'].cc.eng).toMatchObject({
        instreamId: 'CC1',
        language: 'eng',
      });
    }
  });

  it('two audio tracks: one group, first DEFAULT=YES, each with its LANGUAGE; MPD sets with lang and Role', () => {
    const files = renderScenario(scenario('audio-languages'));
    const m = parseM3u8(files.get('master.m3u8')!.body);
    expect(m.mediaGroups.AUDIO!.audio).toEqual({
      audio: { default: true, autoselect: true, language: 'eng', uri: 'audio/index.m3u8' },
      'audio-2': { default: false, autoselect: true, language: 'spa', uri: 'audio-2/index.m3u8' },
    });
    // Examined and none: NONE on every variant (RFC 8216bis 4.4.6.2).
    for (const v of m.playlists) expect(v.attributes['CLOSED-CAPTIONS']).toBe('NONE');
    for (const mpd of ['manifest.mpd', 'manifest-ll.mpd']) {
      const parsed = parseMpd(files.get(mpd)!.body, {
        manifestUri: 'http://x/m.mpd',
        NOW: Date.now(),
        clientOffset: 0,
      });
      const groups = Object.values(parsed.mediaGroups.AUDIO.audio) as Array<{
        language: string;
        default: boolean;
        playlists: Array<{ attributes: { NAME: string } }>;
      }>;
      expect(groups.map((g) => [g.language, g.default, g.playlists[0]!.attributes.NAME])).toEqual([
        ['eng', true, 'audio'],
        ['spa', false, 'audio-2'],
      ]);
    }
  });

  it('a stream whose source was not examined (no description fields) gets no CLOSED-CAPTIONS attribute', () => {
    const text = marshalPlaylist(
      buildMultivariant([
        {
          name: '360p',
          kind: 'video',
          codec: 'avc1.64001e',
          uri: '360p/index.m3u8',
          peakBitrate: 1,
          averageBitrate: 1,
        },
        {
          name: 'audio',
          kind: 'audio',
          codec: 'mp4a.40.2',
          uri: 'audio/index.m3u8',
          peakBitrate: 1,
          averageBitrate: 1,
        },
      ]),
    );
    expect(text).not.toContain('CLOSED-CAPTIONS');
    expect(text).not.toContain('LANGUAGE');
  });

  it('variants with and without captions: the group where they have them, never NONE', () => {
    const text = marshalPlaylist(
      buildMultivariant([
        {
          name: 'a',
          kind: 'video',
          codec: 'avc1',
          uri: 'a/index.m3u8',
          peakBitrate: 2,
          averageBitrate: 2,
          closedCaptions: true,
        },
        {
          name: 'b',
          kind: 'video',
          codec: 'avc1',
          uri: 'b/index.m3u8',
          peakBitrate: 1,
          averageBitrate: 1,
          closedCaptions: false,
        },
      ]),
    );
    const m = parseM3u8(text);
    expect(m.playlists.map((p) => p.attributes['CLOSED-CAPTIONS'])).toEqual(['cc', undefined]);
  });
});
