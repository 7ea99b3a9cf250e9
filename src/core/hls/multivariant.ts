import type { HlsTag } from './tags.js';

/** What the multivariant playlist says about one rendition. Bitrates are measured from produced segments. */
export interface RenditionSummary {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  /** Media playlist URI relative to the multivariant playlist. */
  uri: string;
  peakBitrate: number;
  averageBitrate: number;
  width?: number;
  height?: number;
  frameRate?: number;
  channelCount?: number;
  language?: string;
}

export const AUDIO_GROUP = 'audio';

/**
 * Multivariant playlist: one EXT-X-STREAM-INF per video rendition (BANDWIDTH = video peak + audio peak,
 * CODECS = video + audio), audio renditions as EXT-X-MEDIA TYPE=AUDIO in one group. An audio-only stream
 * gets a STREAM-INF per audio rendition instead.
 */
export function buildMultivariant(renditions: RenditionSummary[]): HlsTag[] {
  const video = renditions.filter((r) => r.kind === 'video');
  const audio = renditions.filter((r) => r.kind === 'audio');
  const tags: HlsTag[] = [
    { tag: 'EXTM3U' },
    { tag: 'EXT-X-VERSION', version: 6 },
    { tag: 'EXT-X-INDEPENDENT-SEGMENTS' },
  ];
  if (video.length === 0) {
    for (const a of audio) {
      tags.push({
        tag: 'EXT-X-STREAM-INF',
        bandwidth: a.peakBitrate,
        averageBandwidth: a.averageBitrate,
        codecs: [a.codec],
        uri: a.uri,
      });
    }
    return tags;
  }
  const mainAudio = audio[0];
  audio.forEach((a, i) => {
    tags.push({
      tag: 'EXT-X-MEDIA',
      type: 'AUDIO',
      groupId: AUDIO_GROUP,
      name: a.name,
      language: a.language,
      isDefault: i === 0,
      autoselect: true,
      channels: a.channelCount,
      uri: a.uri,
    });
  });
  // Highest quality first: players that start with the first variant get the best one the network allows.
  const ordered = [...video].sort((a, b) => b.peakBitrate - a.peakBitrate);
  for (const v of ordered) {
    tags.push({
      tag: 'EXT-X-STREAM-INF',
      bandwidth: v.peakBitrate + (mainAudio?.peakBitrate ?? 0),
      averageBandwidth: v.averageBitrate + (mainAudio?.averageBitrate ?? 0),
      codecs: mainAudio ? [v.codec, mainAudio.codec] : [v.codec],
      resolution: v.width && v.height ? { width: v.width, height: v.height } : undefined,
      frameRate: v.frameRate,
      audioGroup: mainAudio ? AUDIO_GROUP : undefined,
      uri: v.uri,
    });
  }
  return tags;
}
