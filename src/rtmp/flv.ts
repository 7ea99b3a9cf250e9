/** FLV container framing (Adobe FLV spec): how RTMP audio/video/data messages are handed to ffmpeg's stdin. */

/** FLV file header (audio and video present) followed by PreviousTagSize0. */
export function flvHeader(hasAudio = true, hasVideo = true): Buffer {
  const b = Buffer.alloc(13);
  b.write('FLV', 0, 'latin1');
  b[3] = 1;
  b[4] = (hasAudio ? 4 : 0) | (hasVideo ? 1 : 0);
  b.writeUInt32BE(9, 5);
  b.writeUInt32BE(0, 9);
  return b;
}

/** One FLV tag (type 8 audio, 9 video, 18 script data) with its trailing PreviousTagSize. */
export function flvTag(type: number, timestamp: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(11 + payload.length + 4);
  b[0] = type;
  b.writeUIntBE(payload.length, 1, 3);
  b.writeUIntBE(timestamp & 0xffffff, 4, 3);
  b[7] = (timestamp >>> 24) & 0xff;
  b.writeUIntBE(0, 8, 3);
  b.set(payload, 11);
  b.writeUInt32BE(11 + payload.length, 11 + payload.length);
  return b;
}

/** A video message payload's frame type: key frame (1) for H.264/HEVC/enhanced-RTMP keyframes. */
export function isVideoKeyframe(payload: Uint8Array): boolean {
  if (payload.length < 1) return false;
  return ((payload[0]! >> 4) & 0x07) === 1;
}

/**
 * A keyframe that carries a picture: where a new decoder can start (after the sequence header). Not a sequence
 * header, nor the end-of-sequence marker an encoder sends as it stops (both are flagged key frames too). Legacy
 * AVC (7) and HEVC (12) carry AVCPacketType 1 (NALU); enhanced RTMP PacketTypeCodedFrames (1) or CodedFramesX (3);
 * other legacy codecs have no packet type.
 */
export function isVideoKeyframePicture(payload: Uint8Array): boolean {
  if (!isVideoKeyframe(payload) || payload.length < 2) return false;
  if ((payload[0]! & 0x80) !== 0) {
    const packetType = payload[0]! & 0x0f;
    return packetType === 1 || packetType === 3;
  }
  const codec = payload[0]! & 0x0f;
  return codec === 7 || codec === 12 ? payload[1] === 1 : true;
}

/** AVC/HEVC sequence header (decoder configuration), which a restarted decoder needs first. */
export function isVideoSequenceHeader(payload: Uint8Array): boolean {
  if (payload.length < 2) return false;
  const exHeader = (payload[0]! & 0x80) !== 0;
  if (exHeader) return (payload[0]! & 0x0f) === 0; // enhanced RTMP PacketTypeSequenceStart
  return payload[1] === 0;
}

/** AAC sequence header (AudioSpecificConfig). */
export function isAudioSequenceHeader(payload: Uint8Array): boolean {
  return payload.length >= 2 && payload[0]! >> 4 === 10 && payload[1] === 0;
}
