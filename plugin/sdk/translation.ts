/**
 * @file
 * Between Vault's wire messages and the logical request and response a backend handles.
 */

import { dateFromWire, dateToWire } from '../grpc/timestamp';
import type { AfterResponseTask } from './after-response';
import { ErrorType, VaultError } from './errors';
import { OPERATIONS, type Operation, type Request, type Response, type Secret } from './logical';
import type { WireHeader, WireLeaseOptions, WireProtoError, WireRequest, WireResponse, WireSecret } from './protos';
import type { Storage } from './storage';

/** What the transport knows about a request beyond its message. */
export interface RequestContext {
  cancelled?: () => boolean;
  /** ms since the epoch. */
  deadline?: number | undefined;
  afterResponse?: (task: AfterResponseTask) => void;
}

export function requestFromWire(wire: WireRequest, storage: Storage, context: RequestContext = {}): Request {
  if (!(OPERATIONS as readonly string[]).includes(wire.operation)) {
    throw new VaultError(
      `unknown operation ${JSON.stringify(wire.operation)}`,
      ErrorType.UnsupportedOperation,
      0,
      true,
    );
  }
  return {
    id: wire.id,
    operation: wire.operation as Operation,
    path: wire.path,
    data: parseJsonObject(wire.data, 'request data'),
    secret: wire.secret ? secretFromWire(wire.secret) : undefined,
    headers: headersFromWire(wire.headers),
    clientToken: wire.client_token,
    clientTokenAccessor: wire.client_token_accessor,
    displayName: wire.display_name,
    mountPoint: wire.mount_point,
    mountType: wire.mount_type,
    mountAccessor: wire.mount_accessor,
    entityId: wire.entity_id,
    unauthenticated: wire.unauthenticated,
    remoteAddress: wire.connection?.remote_addr || undefined,
    storage,
    cancelled: context.cancelled ?? (() => false),
    deadline: context.deadline,
    afterResponse:
      context.afterResponse ??
      (() => {
        throw new Error('this request cannot run work after its response');
      }),
  };
}

function secretFromWire(wire: WireSecret): Secret {
  const options: Partial<WireLeaseOptions> = wire.lease_options ?? {};
  return {
    leaseOptions: {
      ttl: BigInt(options.TTL ?? 0),
      maxTtl: BigInt(options.MaxTTL ?? 0),
      renewable: options.renewable ?? false,
      increment: BigInt(options.increment ?? 0),
      issueTime: options.issue_time ? dateFromWire(options.issue_time) : new Date(0),
    },
    internalData: parseJsonObject(wire.internal_data, 'secret internal data'),
    leaseId: wire.lease_id,
  };
}

/**
 * The response as the host decodes it. Data and internal data travel as JSON, which
 * JSON.stringify keeps well-formed whatever the strings hold; other text is sent as protobuf
 * strings, which the host refuses whole if they are not valid UTF-8, as a lone surrogate would be.
 */
export function responseToWire(response: Response): WireResponse {
  const wire: WireResponse = {
    // Vault decodes this as JSON: an empty string would fail the whole request.
    data: response.data === undefined ? 'null' : JSON.stringify(response.data),
  };
  if (response.warnings !== undefined && response.warnings.length > 0) wire.warnings = response.warnings.map(utf8Safe);
  if (response.headers !== undefined) wire.headers = headersToWire(response.headers);
  if (response.secret !== undefined) {
    const secret = response.secret;
    wire.secret = {
      lease_options: {
        TTL: secret.ttl.toString(),
        MaxTTL: secret.maxTtl.toString(),
        renewable: secret.renewable,
        increment: '0',
        // Required whenever lease options are present: the host fails the request without it.
        issue_time: dateToWire(secret.issueTime ?? new Date()),
      },
      internal_data: JSON.stringify(secret.internalData),
      lease_id: '',
    };
  }
  return wire;
}

/**
 * How a thrown error travels: a typed ProtoError, and for some types an error response.
 * `censor` rewrites the message's text before it is put in either (so a secret it removes is
 * gone from both, and the JSON around it is built afterwards).
 */
export function errorToWire(
  error: unknown,
  censor: (text: string) => string = (text) => text,
): { err: WireProtoError; response: WireResponse | undefined } {
  if (error instanceof VaultError) {
    const message = utf8Safe(censor(error.message));
    return {
      err: { err_type: error.type, err_msg: message, err_code: error.code },
      response: error.asResponse ? { data: JSON.stringify({ error: message }) } : undefined,
    };
  }
  const message = utf8Safe(censor(error instanceof Error ? error.message : String(error)));
  return { err: { err_type: ErrorType.Internal, err_msg: message, err_code: 0 }, response: undefined };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text the host's protobuf decoder accepts: each lone surrogate becomes U+FFFD, as Go's JSON decoder does too. */
export function utf8Safe(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text === '' || text === 'null') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new VaultError(`${what} is not valid JSON: ${(error as Error).message}`, ErrorType.InvalidRequest, 0, true);
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new VaultError(`${what} must be a JSON object`, ErrorType.InvalidRequest, 0, true);
  }
  return parsed as Record<string, unknown>;
}

function headersFromWire(headers: Record<string, WireHeader> | undefined): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name] = [...value.header];
  return result;
}

function headersToWire(headers: Record<string, string[]>): Record<string, WireHeader> {
  const result: Record<string, WireHeader> = {};
  for (const [name, values] of Object.entries(headers)) result[name] = { header: values };
  return result;
}
