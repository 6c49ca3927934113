import * as grpc from '@grpc/grpc-js';
import { isServiceError, type UnaryMethod } from '../../goplugin/grpc-call';
import type { PachdAddress } from './address';
import { classifyPachdError } from './errors';

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

/** Calls pachd at one address with a deadline, as a given token, and explains failures. */
export class PachdConnection {
  constructor(
    readonly address: PachdAddress,
    private readonly pool: PachdChannelPool,
    private readonly tlsCa: string | undefined,
    readonly timeoutMs: number,
  ) {}

  async call<Request, Response>(
    method: UnaryMethod<Request, Response>,
    request: Request,
    token?: string,
  ): Promise<Response> {
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set(AUTH_TOKEN_KEY, token);
    const deadline = Date.now() + this.timeoutMs;
    const channel = this.pool.channel(this.address, this.tlsCa);
    try {
      try {
        return await method.callOnChannel(channel, request, { metadata, deadline });
      } catch (error) {
        // The call never left this process (no connection), so trying it once more on a fresh
        // channel is safe: it succeeds if pachd is back, and fails as fast if it is not.
        if (!neverSent(error)) throw error;
        const fresh = this.pool.replace(this.address, this.tlsCa, channel);
        return await method.callOnChannel(fresh, request, { metadata, deadline });
      }
    } catch (error) {
      throw classifyPachdError(error, this.address.canonical, methodName(method.path), this.timeoutMs);
    }
  }
}

/** grpc-js's words for a call that failed before a connection existed to send it on. */
function neverSent(error: unknown): boolean {
  return isServiceError(error) && error.code === grpc.status.UNAVAILABLE && error.details.startsWith('No connection established');
}

function methodName(path: string): string {
  return path.split('/').filter((part) => part !== '').join('/');
}
