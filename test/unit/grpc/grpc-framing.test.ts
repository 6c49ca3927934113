import { frameMessage, MessageReader } from '../../../plugin/grpc/grpc-framing';
import { GrpcStatus } from '../../../plugin/grpc/grpc-status';
import { GrpcStatusError } from '../../../plugin/grpc/grpc-status-error';

function prefix(flag: number, length: number): Buffer {
  const bytes = Buffer.alloc(5);
  bytes[0] = flag;
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

function refusal(run: () => void): GrpcStatusError {
  try {
    run();
  } catch (error) {
    if (error instanceof GrpcStatusError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('gRPC message framing', () => {
  it('frames a message with a zero flag and a big-endian length', () => {
    expect(frameMessage(Buffer.from('abc'))).toEqual(Buffer.from([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]));
    expect(frameMessage(Buffer.alloc(0))).toEqual(Buffer.from([0, 0, 0, 0, 0]));
  });

  it('reads what it framed back, whole or cut into single bytes', () => {
    const framed = Buffer.concat([frameMessage(Buffer.from('hello')), frameMessage(Buffer.alloc(0))]);
    const whole = new MessageReader(100);
    whole.push(framed);
    expect(whole.messages.map(String)).toEqual(['hello', '']);
    expect(whole.truncated).toBe(false);
    const piecewise = new MessageReader(100);
    for (const byte of framed) piecewise.push(Buffer.from([byte]));
    expect(piecewise.messages.map(String)).toEqual(['hello', '']);
    expect(piecewise.truncated).toBe(false);
  });

  it('knows a body that ends inside a prefix or inside a message', () => {
    const inPrefix = new MessageReader(100);
    inPrefix.push(Buffer.from([0, 0, 0]));
    expect(inPrefix.truncated).toBe(true);
    const inMessage = new MessageReader(100);
    inMessage.push(Buffer.concat([prefix(0, 10), Buffer.from('abc')]));
    expect(inMessage.truncated).toBe(true);
    expect(inMessage.messages).toHaveLength(0);
  });

  it('refuses a length past its limit from the prefix alone, before any of the body', () => {
    const reader = new MessageReader(1024);
    const error = refusal(() => reader.push(prefix(0, 0xffff_ffff)));
    expect(error.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(error.details).toContain('4294967295 vs. 1024');
  });

  it('takes a message of exactly its limit', () => {
    const reader = new MessageReader(4);
    reader.push(frameMessage(Buffer.from('four')));
    expect(reader.messages.map(String)).toEqual(['four']);
  });

  it('refuses compressed messages, which it never asked for', () => {
    const error = refusal(() => new MessageReader(100).push(Buffer.concat([prefix(1, 1), Buffer.from('x')])));
    expect(error.code).toBe(GrpcStatus.INTERNAL);
    expect(error.details).toContain('compressed');
  });

  it('refuses a flag byte that is neither 0 nor 1', () => {
    const error = refusal(() => new MessageReader(100).push(prefix(0x7f, 0)));
    expect(error.code).toBe(GrpcStatus.INTERNAL);
  });
});
