import { serviceDefinition } from '../../plugin/grpc/proto-loading';
import { dateFromWire, dateToWire } from '../../plugin/grpc/timestamp';
import { badRequest, codedError, ErrorType, permissionDenied } from '../../plugin/sdk/errors';
import { leaseResponse } from '../../plugin/sdk/framework';
import { vaultDefinitions, type WireHandleRequestArgs, type WireHandleRequestReply } from '../../plugin/sdk/protos';
import { InMemoryStorage } from '../../plugin/sdk/storage';
import { errorToWire, requestFromWire, responseToWire } from '../../plugin/sdk/translation';

const handleRequest = serviceDefinition(vaultDefinitions, 'pb.Backend').HandleRequest!;
const TWO_HUNDRED_DAYS = 200n * 86_400n * 1_000_000_000n;

/** What the host would receive: our reply serialized, then decoded again. */
function overTheWire(reply: WireHandleRequestReply): WireHandleRequestReply {
  const bytes = handleRequest.responseSerialize(reply);
  return handleRequest.responseDeserialize(bytes) as WireHandleRequestReply;
}

describe('wire translation', () => {
  it('keeps a 200-day lease TTL exact through protobuf encoding', () => {
    const response = leaseResponse({
      secretType: 't',
      data: { a: 1 },
      internalData: { token: 'x' },
      ttl: TWO_HUNDRED_DAYS,
      maxTtl: TWO_HUNDRED_DAYS + 1n,
      renewable: true,
    });
    const decoded = overTheWire({ response: responseToWire(response), err: null });
    const options = decoded.response!.secret!.lease_options!;
    expect(TWO_HUNDRED_DAYS > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(BigInt(options.TTL)).toBe(TWO_HUNDRED_DAYS);
    expect(BigInt(options.MaxTTL)).toBe(TWO_HUNDRED_DAYS + 1n);
    expect(options.issue_time).toBeTruthy();
    expect(JSON.parse(decoded.response!.secret!.internal_data)).toEqual({ token: 'x', secret_type: 't' });
  });

  it('never sends an empty data string', () => {
    expect(responseToWire({}).data).toBe('null');
    expect(responseToWire({ data: {} }).data).toBe('{}');
  });

  it('decodes requests with their secret, keeping nanoseconds exact', () => {
    const args: WireHandleRequestArgs = {
      request: {
        id: 'r',
        operation: 'renew',
        path: 'creds/x',
        data: 'null',
        secret: {
          lease_options: {
            TTL: TWO_HUNDRED_DAYS.toString(),
            MaxTTL: '0',
            renewable: true,
            increment: '3600000000000',
            issue_time: dateToWire(new Date('2026-01-02T03:04:05.678Z')),
          },
          internal_data: '{"token":"abc"}',
          lease_id: '',
        },
        client_token: '',
        client_token_accessor: '',
        display_name: '',
        mount_point: '',
        mount_type: '',
        mount_accessor: '',
        entity_id: 'e1',
        policy_override: false,
        unauthenticated: false,
      },
    };
    const bytes = handleRequest.requestSerialize(args);
    const decoded = handleRequest.requestDeserialize(bytes) as WireHandleRequestArgs;
    const request = requestFromWire(decoded.request!, new InMemoryStorage());
    expect(request.operation).toBe('renew');
    expect(request.data).toEqual({});
    expect(request.entityId).toBe('e1');
    expect(request.secret?.leaseOptions.ttl).toBe(TWO_HUNDRED_DAYS);
    expect(request.secret?.leaseOptions.increment).toBe(3_600_000_000_000n);
    expect(request.secret?.leaseOptions.issueTime.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(request.secret?.internalData).toEqual({ token: 'abc' });
  });

  it('rejects request data that is not a JSON object', () => {
    const base = {
      id: '',
      operation: 'update',
      path: 'x',
      client_token: '',
      client_token_accessor: '',
      display_name: '',
      mount_point: '',
      mount_type: '',
      mount_accessor: '',
      entity_id: '',
      policy_override: false,
      unauthenticated: false,
    };
    expect(() => requestFromWire({ ...base, data: '[1]' }, new InMemoryStorage())).toThrow(/JSON object/);
    expect(() => requestFromWire({ ...base, operation: 'frobnicate', data: '{}' }, new InMemoryStorage())).toThrow(
      /unknown operation/,
    );
  });

  it('maps errors to typed ProtoErrors, with text as an error response where the type would drop it', () => {
    const bad = errorToWire(badRequest('ttl is too long'));
    expect(bad.err).toEqual({ err_type: ErrorType.InvalidRequest, err_msg: 'ttl is too long', err_code: 0 });
    expect(JSON.parse(bad.response!.data)).toEqual({ error: 'ttl is too long' });
    const denied = errorToWire(permissionDenied('not yours'));
    expect(denied.err.err_type).toBe(ErrorType.PermissionDenied);
    expect(denied.response).toBeDefined();
    const coded = errorToWire(codedError(502, 'pachd at grpc://x:30650 is unreachable'));
    expect(coded.err).toEqual({
      err_type: ErrorType.Coded,
      err_msg: 'pachd at grpc://x:30650 is unreachable',
      err_code: 502,
    });
    expect(coded.response).toBeUndefined();
    expect(errorToWire(new Error('boom')).err.err_type).toBe(ErrorType.Internal);
  });

  it('round-trips timestamps to the millisecond', () => {
    const date = new Date('2030-05-06T07:08:09.012Z');
    expect(dateFromWire(dateToWire(date)).getTime()).toBe(date.getTime());
  });
});
