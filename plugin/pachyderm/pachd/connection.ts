import * as grpc from '@grpc/grpc-js';
import type { UnaryMethod } from '../../grpc/grpc-call';
import type { PachdAddress } from './address';
import type { PachdCallGate } from './call-gate';
import { classifyPachdError, neverSent, refusedBeforeSending } from './errors';

/** The metadata key pachd reads the caller's token from (no `Bearer` prefix). */
export const AUTH_TOKEN_KEY = 'authn-token';

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // After an outage grpc-js would wait up to two minutes between reconnect attempts; a Vault
  // request should find pachd again within seconds of it coming back.
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 3000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
};

/** One channel per pachd address and TLS setting, shared by every request of a mount. */
export class PachdChannelPool {
  private readonly channels = new Map<string, grpc.Channel>();

  channel(address: PachdAddress, tlsCa: string | undefined): grpc.Channel {
    const key = poolKey(address, tlsCa);
    let channel = this.channels.get(key);
    if (channel === undefined) {
      const credentials = address.tls
        ? grpc.credentials.createSsl(tlsCa === undefined || tlsCa === '' ? null : Buffer.from(tlsCa))
        : grpc.credentials.createInsecure();
      channel = new grpc.Channel(address.target, credentials, CHANNEL_OPTIONS);
      this.channels.set(key, channel);
    }
    return channel;
  }

  /**
   * Drops a channel that lost pachd. grpc-js reconnects a failed channel only when its backoff
   * timer says so and fails calls meanwhile; a new channel connects at once.
   */
  replace(address: PachdAddress, tlsCa: string | undefined, stale: grpc.Channel): grpc.Channel {
    const key = poolKey(address, tlsCa);
    if (this.channels.get(key) === stale) {
      this.channels.delete(key);
      stale.close();
    }
    return this.channel(address, tlsCa);
  }

  closeAll(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
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
    private readonly pool: PachdChannelPool,
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
    const name = methodName(method.path);
    if (token !== undefined && !isSendableToken(token)) {
      // grpc-js would refuse it with an error that quotes the whole value.
      throw refusedBeforeSending(
        this.address.canonical,
        name,
        'the token holds characters gRPC metadata cannot carry (whitespace, control or non-ASCII characters); ' +
          'it was not sent to pachd',
        'token not sendable',
      );
    }
    try {
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set(AUTH_TOKEN_KEY, token);
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
    metadata: grpc.Metadata,
  ): Promise<Response> {
    const deadline = Math.min(Date.now() + this.timeoutMs, this.budget.deadline);
    const channel = this.pool.channel(this.address, this.tlsCa);
    try {
      return await method.callOnChannel(channel, request, { metadata, deadline });
    } catch (error) {
      // The call never left this process (no connection), so trying it once more on a fresh
      // channel is safe: it succeeds if pachd is back, and fails as fast if it is not.
      if (!neverSent(error)) throw error;
      const fresh = this.pool.replace(this.address, this.tlsCa, channel);
      return await method.callOnChannel(fresh, request, { metadata, deadline });
    }
  }
}

/** What grpc-js accepts as an ASCII metadata value, less spaces, which no pachd token holds. */
export function isSendableToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

function methodName(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '')
    .join('/');
}
