import { GrpcStatus } from './grpc-status';
import { GrpcStatusError } from './grpc-status-error';

/** The length-prefixed message of gRPC over HTTP/2: a compressed flag byte, then a uint32 length. */
const PREFIX_LENGTH = 5;
/** The largest length the prefix can state. */
export const MAX_FRAMED_LENGTH = 0xffff_ffff;

/** One message framed for the request body, uncompressed. */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX_LENGTH + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, PREFIX_LENGTH);
  return framed;
}

/**
 * Reads length-prefixed messages out of a response body as its DATA frames arrive, in whatever
 * pieces the transport cuts them. It never allocates from the length a server states (a lying
 * prefix costs only what actually arrives), and refuses a message past its limit as soon as the
 * prefix is read, before the body arrives.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the message whose body is being read; -1 while reading a prefix. */
  private expected = -1;
  readonly messages: Buffer[] = [];

  constructor(private readonly maxLength: number) {}

  /** Throws a GrpcStatusError for a message it refuses; the call must end then. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < PREFIX_LENGTH) return;
        const prefix = this.take(PREFIX_LENGTH);
        const flag = prefix[0];
        const length = prefix.readUInt32BE(1);
        if (flag === 1) {
          // We never offer an encoding (no grpc-accept-encoding), so a compressed reply is the
          // server's mistake, and we have nothing to decompress it with.
          throw new GrpcStatusError(
            GrpcStatus.INTERNAL,
            'the server sent a compressed message, which was not asked for',
          );
        }
        if (flag !== 0) throw new GrpcStatusError(GrpcStatus.INTERNAL, `invalid message flag ${flag}`);
        if (length > this.maxLength) {
          throw new GrpcStatusError(
            GrpcStatus.RESOURCE_EXHAUSTED,
            `received a message larger than the limit (${length} vs. ${this.maxLength} bytes)`,
          );
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) return;
      this.messages.push(this.expected === 0 ? Buffer.alloc(0) : this.take(this.expected));
      this.expected = -1;
    }
  }

  /** Whether the body ended inside a message (its prefix or its bytes). */
  get truncated(): boolean {
    return this.expected >= 0 || this.buffered > 0;
  }

  private take(length: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= length) {
      // The usual case, a whole message in one DATA frame: a view, no copy.
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
      this.buffered -= length;
      return first.subarray(0, length);
    }
    const all = Buffer.concat(this.chunks, this.buffered);
    this.buffered -= length;
    this.chunks = this.buffered > 0 ? [all.subarray(length)] : [];
    return all.subarray(0, length);
  }
}
