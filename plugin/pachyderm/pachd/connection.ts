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
    const key = `${address.target}\u0000${address.tls ? 'tls' : 'plain'}\u0000${tlsCa ?? ''}`;
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

  closeAll(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}

/** Calls pachd at one address with a deadline, as a given token, and explains failures. */
export class PachdConnection {
  constructor(
    readonly address: PachdAddress,
    private readonly channel: grpc.Channel,
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
    const attempt = () => method.callOnChannel(this.channel, request, { metadata, deadline });
    try {
      try {
        return await attempt();
      } catch (error) {
        // A channel that lost pachd reconnects on a backoff schedule and fails calls fast
        // meanwhile. Such a call never left this process, so asking the channel to connect now
        // and trying once more is safe, and lets a pachd that is back answer at once.
        if (!neverSent(error) || !(await this.reconnected(Math.min(RECONNECT_WAIT_MS, deadline - Date.now())))) {
          throw error;
        }
        return await attempt();
      }
    } catch (error) {
      throw classifyPachdError(error, this.address.canonical, methodName(method.path), this.timeoutMs);
    }
  }

  private reconnected(waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const deadline = Date.now() + Math.max(0, waitMs);
      const watch = (): void => {
        const state = this.channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve(true);
        if (Date.now() >= deadline) return resolve(false);
        this.channel.watchConnectivityState(state, deadline, (error) => (error ? resolve(false) : watch()));
      };
      watch();
    });
  }
}

const RECONNECT_WAIT_MS = 1000;

/** grpc-js's words for a call that failed before a connection existed to send it on. */
function neverSent(error: unknown): boolean {
  return isServiceError(error) && error.code === grpc.status.UNAVAILABLE && error.details.startsWith('No connection established');
}

function methodName(path: string): string {
  return path.split('/').filter((part) => part !== '').join('/');
}
