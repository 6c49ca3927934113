import type { CallMetadata, UnaryMethod } from '../../grpc/grpc-call';
import { Http2UnaryClient, type Http2ClientOptions } from '../../grpc/http2-unary-client';
import type { PachdAddress } from './address';
import type { PachdCallGate } from './call-gate';
import { classifyPachdError, neverSent, refusedBeforeSending } from './errors';

/** The metadata key pachd reads the caller's token from (no `Bearer` prefix). */
export const AUTH_TOKEN_KEY = 'authn-token';

const MAX_RECEIVE_MESSAGE_LENGTH = 64 * 1024 * 1024;
const KEEPALIVE = { intervalMs: 60_000, timeoutMs: 20_000 };

/**
 * One client per pachd address and TLS setting, shared by every request of a mount. A client
 * whose connection failed dials again on its next call, at once: after an outage a Vault request
 * finds pachd again as soon as it is back.
 */
export class PachdClientPool {
  private readonly clients = new Map<string, Http2UnaryClient>();

  client(address: PachdAddress, tlsCa: string | undefined): Http2UnaryClient {
    const key = poolKey(address, tlsCa);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new Http2UnaryClient(clientOptions(address, tlsCa));
      this.clients.set(key, client);
    }
    return client;
  }

  closeAll(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

function clientOptions(address: PachdAddress, tlsCa: string | undefined): Http2ClientOptions {
  const target = address.target.startsWith('unix://')
    ? { socketPath: address.target.slice('unix://'.length) }
    : address.target;
  return {
    target,
    // No CA of its own: Node's built-in roots (Mozilla's list, plus NODE_EXTRA_CA_CERTS), as
    // grpc-js's default credentials gave; not the OS store.
    tls: address.tls ? (tlsCa === undefined || tlsCa === '' ? {} : { ca: tlsCa }) : undefined,
    maxReceiveMessageLength: MAX_RECEIVE_MESSAGE_LENGTH,
    keepalive: KEEPALIVE,
  };
}

function poolKey(address: PachdAddress, tlsCa: string | undefined): string {
  return `${address.target}\u0000${address.tls ? 'tls' : 'plain'}\u0000${tlsCa ?? ''}`;
}

/**
 * What one request may spend on pachd: its deadline (the host's, when it sent one) and its
 * place in the process-wide bound on token writes to this pachd.
 */
export interface CallBudget {
  /** ms since the epoch; no call and no wait outlasts it. */
  deadline: number;
  /** Token writes this process may have in flight at this pachd; 0: no bound. */
  maxWritesInFlight: number;
  gate: PachdCallGate;
}

/** Reads run at once; token writes (issue, revoke, rotate) queue for the gate first. */
export type CallKind = 'read' | 'write';

/** Calls pachd at one address with a deadline, as a given token, and explains failures. */
export class PachdConnection {
  constructor(
    readonly address: PachdAddress,
    private readonly pool: PachdClientPool,
    private readonly tlsCa: string | undefined,
    readonly timeoutMs: number,
    private readonly budget: CallBudget,
  ) {}

  /** When the request this connection serves must be done with pachd (ms since the epoch). */
  get deadline(): number {
    return this.budget.deadline;
  }

  async call<Request, Response>(
    method: UnaryMethod<Request, Response>,
    request: Request,
    token?: string,
    kind: CallKind = 'read',
  ): Promise<Response> {
    const name = method.name;
    if (token !== undefined && !isSendableToken(token)) {
      // node:http2 would refuse it with an error that may quote the whole value.
      throw refusedBeforeSending(
        this.address.canonical,
        name,
        'the token holds characters gRPC metadata cannot carry (whitespace, control or non-ASCII characters); ' +
          'it was not sent to pachd',
        'token not sendable',
      );
    }
    try {
      const metadata: CallMetadata = token === undefined ? {} : { [AUTH_TOKEN_KEY]: token };
      if (kind === 'read') return await this.send(method, request, metadata);
      const { gate, maxWritesInFlight, deadline } = this.budget;
      return await gate.run(maxWritesInFlight, deadline, () => this.send(method, request, metadata));
    } catch (error) {
      throw classifyPachdError(error, this.address.canonical, name, this.timeoutMs, token);
    }
  }

  private async send<Request, Response>(
    method: UnaryMethod<Request, Response>,
    request: Request,
    metadata: CallMetadata,
  ): Promise<Response> {
    const deadline = Math.min(Date.now() + this.timeoutMs, this.budget.deadline);
    const client = this.pool.client(this.address, this.tlsCa);
    try {
      return await method.call(client, request, { metadata, deadline });
    } catch (error) {
      // The call never reached pachd (no connection, or refused before it was read), so trying
      // it once more is safe: the client dials afresh, which succeeds if pachd is back and fails
      // as fast if it is not.
      if (!neverSent(error)) throw error;
      return await method.call(client, request, { metadata, deadline });
    }
  }
}

/** What gRPC carries as an ASCII metadata value, less spaces, which no pachd token holds. */
export function isSendableToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}
