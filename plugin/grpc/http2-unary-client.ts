import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { frameMessage, MAX_FRAMED_LENGTH } from './grpc-framing';
import { GrpcStatus } from './grpc-status';
import { GrpcStatusError } from './grpc-status-error';
import { Http2Connection, type KeepaliveOptions } from './http2-connection';
import { unaryCall } from './http2-unary-call';

export interface Http2ClientTls {
  /** Trusted CAs (PEM); undefined: the system's. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM), for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the server's certificate must carry, when not the target's host. */
  servername?: string;
}

export interface Http2ClientOptions {
  /** `host:port` (IPv6 in brackets), or a Unix socket path as `{ socketPath }`. */
  target: string | { socketPath: string };
  /** undefined: h2c, plaintext HTTP/2. */
  tls?: Http2ClientTls;
  /** Largest reply message accepted; default: 4 MiB, gRPC's. */
  maxReceiveMessageLength?: number;
  keepalive?: KeepaliveOptions;
  /** How long a connection attempt may take; default 20 s, as grpc-js. */
  connectTimeoutMs?: number;
}

const DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;

/**
 * A unary gRPC client written on node:http2 alone, for the plugin's own calls (the host's storage
 * and system view, pachd). grpc-js's client stack (resolver, load balancer, filters, Metadata, an
 * interceptor chain and several objects per call) cost more CPU than our calls' own work; this
 * does only what a unary call needs.
 *
 * One HTTP/2 session per client, reused by every call. When it fails, closes or is told GOAWAY,
 * the next call dials a new one at once (no backoff: our callers bound their own retries).
 */
export class Http2UnaryClient {
  private connection: Http2Connection | undefined;
  private closed = false;
  private readonly authority: string;
  private readonly maxReceiveMessageLength: number;

  constructor(private readonly options: Http2ClientOptions) {
    // Unix sockets have no host; grpc-js uses "localhost" for them, which is also the name
    // go-plugin's certificates carry.
    this.authority = typeof options.target === 'string' ? options.target : 'localhost';
    this.maxReceiveMessageLength = Math.min(options.maxReceiveMessageLength ?? DEFAULT_MAX_RECEIVE, MAX_FRAMED_LENGTH);
  }

  /** Sends one request message and resolves with the reply's bytes; fails with a GrpcStatusError. */
  unary(
    path: string,
    message: Uint8Array,
    metadata: Readonly<Record<string, string>> | undefined,
    deadline: number | undefined,
  ): Promise<Buffer> {
    if (this.closed) {
      return Promise.reject(new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the client was closed', true));
    }
    return unaryCall(this.session(), {
      path,
      body: frameMessage(message),
      metadata,
      deadline,
      maxReceiveMessageLength: this.maxReceiveMessageLength,
    });
  }

  /** Takes no new calls; those in flight finish. */
  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = undefined;
  }

  private session(): Http2Connection {
    const current = this.connection;
    // A session destroyed in this tick has not told its listeners yet: `gone` alone would reuse it.
    if (current !== undefined && !current.gone && !current.session.destroyed && !current.session.closed) return current;
    const connection = new Http2Connection(
      this.connect(),
      this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      this.options.keepalive,
      (gone) => {
        if (this.connection === gone) this.connection = undefined;
        // Calls in flight on it may still finish (a GOAWAY without error lets them).
        if (!gone.session.closed) gone.session.close();
      },
    );
    this.connection = connection;
    return connection;
  }

  private connect(): http2.ClientHttp2Session {
    const { target, tls: tlsOptions } = this.options;
    const scheme = tlsOptions === undefined ? 'http' : 'https';
    const settings: http2.SecureClientSessionOptions = { settings: { enablePush: false } };
    if (typeof target !== 'string') {
      const path = target.socketPath;
      settings.createConnection = () =>
        tlsOptions === undefined
          ? net.connect({ path })
          : tls.connect({
              path,
              ...tlsOptions,
              servername: tlsOptions.servername ?? 'localhost',
              ALPNProtocols: ['h2'],
            });
    } else if (tlsOptions !== undefined) {
      Object.assign(settings, tlsOptions);
    }
    return http2.connect(`${scheme}://${this.authority}`, settings);
  }
}
