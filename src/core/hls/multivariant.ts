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
  /**
   * Video: the stream carries CEA-608 captions (CC1) in its SEI (true), does not (false), or was not examined
   * (undefined: no CLOSED-CAPTIONS attribute at all).
   */
  closedCaptions?: boolean;
  /** Video with captions: the captions' language (the video stream's language tag), when known. */
  captionsLanguage?: string;
}

export const AUDIO_GROUP = 'audio';
export const CAPTIONS_GROUP = 'cc';
/** The 608 channel the captions are signalled on: CC1 (field 1, data channel 1), what encoders write by default. */
export const CAPTIONS_INSTREAM_ID = 'CC1';

/**
 * Multivariant playlist: one EXT-X-STREAM-INF per video rendition (BANDWIDTH = video peak + audio peak,
 * CODECS = video + audio), audio renditions as EXT-X-MEDIA TYPE=AUDIO in one group (the first DEFAULT=YES,
 * each with its LANGUAGE when known), CEA-608 captions in the video as EXT-X-MEDIA TYPE=CLOSED-CAPTIONS
 * (INSTREAM-ID CC1) referenced by every variant. An audio-only stream gets a STREAM-INF per audio rendition.
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
  // The variant's bitrate holds with whichever audio rendition a player picks (one rendition: that one's).
  const audioPeak = Math.max(0, ...audio.map((a) => a.peakBitrate));
  const audioAverage = Math.max(0, ...audio.map((a) => a.averageBitrate));
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
  const captioned = video.find((v) => v.closedCaptions === true);
  if (captioned) {
    tags.push({
      tag: 'EXT-X-MEDIA',
      type: 'CLOSED-CAPTIONS',
      groupId: CAPTIONS_GROUP,
      name: CAPTIONS_INSTREAM_ID,
      language: captioned.captionsLanguage,
      isDefault: false,
      autoselect: true,
      instreamId: CAPTIONS_INSTREAM_ID,
    });
  }
  // RFC 8216bis 4.4.6.2: NONE only when no variant has captions, and then on every EXT-X-STREAM-INF.
  const noCaptions = video.every((v) => v.closedCaptions === false);
  // Highest quality first: players that start with the first variant get the best one the network allows.
  const ordered = [...video].sort((a, b) => b.peakBitrate - a.peakBitrate);
  for (const v of ordered) {
    tags.push({
      tag: 'EXT-X-STREAM-INF',
      bandwidth: v.peakBitrate + audioPeak,
      averageBandwidth: v.averageBitrate + audioAverage,
      codecs: mainAudio ? [v.codec, mainAudio.codec] : [v.codec],
      resolution: v.width && v.height ? { width: v.width, height: v.height } : undefined,
      frameRate: v.frameRate,
      audioGroup: mainAudio ? AUDIO_GROUP : undefined,
      closedCaptions: v.closedCaptions
        ? { groupId: CAPTIONS_GROUP }
        : noCaptions
          ? ('NONE' as const)
          : undefined,
      uri: v.uri,
    });
  }
  return tags;
}
