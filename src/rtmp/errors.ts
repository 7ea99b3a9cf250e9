import { WellspringError } from '../core/errors.js';

/** A peer broke the RTMP protocol (bad handshake, chunk header, AMF value, size limit). */
export class RtmpProtocolError extends WellspringError {
  constructor(message: string) {
    super('RTMP_PROTOCOL', message);
  }
}
