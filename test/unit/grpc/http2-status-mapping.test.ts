import { constants } from 'node:http2';
import { GrpcStatus } from '../../../plugin/grpc/grpc-status';
import {
  decodeGrpcMessage,
  grpcTimeout,
  statusFromHttp,
  statusFromResetCode,
} from '../../../plugin/grpc/http2-status-mapping';

describe('HTTP/2 outcomes as gRPC statuses', () => {
  it.each([
    [400, GrpcStatus.INTERNAL],
    [401, GrpcStatus.UNAUTHENTICATED],
    [403, GrpcStatus.PERMISSION_DENIED],
    [404, GrpcStatus.UNIMPLEMENTED],
    [429, GrpcStatus.UNAVAILABLE],
    [502, GrpcStatus.UNAVAILABLE],
    [503, GrpcStatus.UNAVAILABLE],
    [504, GrpcStatus.UNAVAILABLE],
    [500, GrpcStatus.UNKNOWN],
    [302, GrpcStatus.UNKNOWN],
  ])('maps HTTP %i to status %i', (http, code) => {
    expect(statusFromHttp(http)).toBe(code);
  });

  it.each([
    [constants.NGHTTP2_REFUSED_STREAM, GrpcStatus.UNAVAILABLE],
    [constants.NGHTTP2_CANCEL, GrpcStatus.CANCELLED],
    [constants.NGHTTP2_ENHANCE_YOUR_CALM, GrpcStatus.RESOURCE_EXHAUSTED],
    [constants.NGHTTP2_INADEQUATE_SECURITY, GrpcStatus.PERMISSION_DENIED],
    [constants.NGHTTP2_PROTOCOL_ERROR, GrpcStatus.INTERNAL],
    [constants.NGHTTP2_INTERNAL_ERROR, GrpcStatus.INTERNAL],
    [constants.NGHTTP2_FLOW_CONTROL_ERROR, GrpcStatus.INTERNAL],
  ])('maps RST_STREAM code %i to status %i', (rst, code) => {
    expect(statusFromResetCode(rst)).toBe(code);
  });

  it('percent-decodes grpc-message as UTF-8, leaving stray percent signs as they are', () => {
    expect(decodeGrpcMessage('plain text')).toBe('plain text');
    expect(decodeGrpcMessage('no%20way%3A %E2%9C%93')).toBe('no way: ✓');
    expect(decodeGrpcMessage('100% sure %zz %4')).toBe('100% sure %zz %4');
    expect(decodeGrpcMessage('%FF')).toBe('\ufffd');
  });

  it('writes grpc-timeout in at most 8 digits', () => {
    expect(grpcTimeout(1500)).toBe('1500m');
    expect(grpcTimeout(0.2)).toBe('1m');
    expect(grpcTimeout(-5)).toBe('0m');
    expect(grpcTimeout(99_999_999)).toBe('99999999m');
    expect(grpcTimeout(100_000_000)).toBe('100000S');
    expect(grpcTimeout(Number.MAX_SAFE_INTEGER)).toMatch(/^\d{1,8}H$/);
  });
});
