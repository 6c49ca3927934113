import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';

/** A call in flight on a connection, as the connection sees it. */
export interface CallInFlight {
  readonly stream: ClientHttp2Stream;
  /** Ends the call as never sent: the server said it will not process its stream. */
  refuse(): void;
}

export interface KeepaliveOptions {
  /** How often to ping while calls are in flight. */
  intervalMs: number;
  /** How long a ping may go unanswered before the connection counts as dead. */
  timeoutMs: number;
}

/**
 * One HTTP/2 session to a server and what the calls on it need to know about it: whether it ever
 * connected (a call on a session that never did was never sent), the last stream id a GOAWAY
 * promised to process, and whether new calls may still start on it.
 */
export class Http2Connection {
  connected = false;
  /** Set once the session may take no new streams (GOAWAY, error, close). */
  gone = false;
  /** Streams above this id were not processed by the server (from its GOAWAY). */
  lastStreamId = Number.MAX_SAFE_INTEGER;
  /** Why the session failed, for calls that fail with it. */
  failure: Error | undefined;
  private readonly calls = new Set<CallInFlight>();
  private keepalive: NodeJS.Timeout | undefined;
  private pingOutstanding = false;

  constructor(
    readonly session: ClientHttp2Session,
    connectTimeoutMs: number,
    keepalive: KeepaliveOptions | undefined,
    private readonly onGone: (connection: Http2Connection) => void,
  ) {
    // Idle sessions must not keep the process alive; calls in flight do (callStarted).
    session.unref();
    // A connection that neither succeeds nor fails (a black-holed address) would hold every new
    // call until its deadline; give up on it so the next call dials again.
    const connectTimer = setTimeout(
      () => session.destroy(new Error(`no connection within ${connectTimeoutMs / 1000} s`)),
      connectTimeoutMs,
    );
    connectTimer.unref();
    session.once('connect', () => {
      clearTimeout(connectTimer);
      this.connected = true;
    });
    session.on('error', (error: Error) => {
      this.failure ??= error;
      this.retire();
    });
    session.on('goaway', (_code: number, lastStreamId: number) => {
      this.lastStreamId = Math.min(this.lastStreamId, lastStreamId);
      // Node lets a gracefully closing session wait for every open stream, including those the
      // server just said it will never process; those would hang until their deadline.
      for (const call of this.calls) {
        const id = call.stream.id;
        if (id !== undefined && id > this.lastStreamId) call.refuse();
      }
      this.retire();
    });
    session.once('close', () => {
      clearTimeout(connectTimer);
      this.retire();
    });
    if (keepalive !== undefined) {
      this.keepalive = setInterval(() => this.ping(keepalive.timeoutMs), keepalive.intervalMs);
      this.keepalive.unref();
    }
  }

  callStarted(call: CallInFlight): void {
    if (this.calls.size === 0) this.session.ref();
    this.calls.add(call);
  }

  callEnded(call: CallInFlight): void {
    this.calls.delete(call);
    if (this.calls.size === 0 && !this.session.destroyed) this.session.unref();
  }

  /** Lets calls in flight finish, then closes; takes no new ones. */
  close(): void {
    this.retire();
    if (!this.session.closed) this.session.close();
  }

  private retire(): void {
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.keepalive = undefined;
    if (this.gone) return;
    this.gone = true;
    this.onGone(this);
  }

  /**
   * Pings only while calls are in flight: servers count pings on an idle connection as abuse
   * (grpc-go's default policy answers a few with GOAWAY ENHANCE_YOUR_CALM), and an idle
   * connection that died is found by the next call anyway.
   */
  private ping(timeoutMs: number): void {
    if (this.calls.size === 0 || this.pingOutstanding || !this.connected || this.session.destroyed) return;
    const timer = setTimeout(
      () => this.session.destroy(new Error(`keepalive ping unanswered for ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    timer.unref();
    this.pingOutstanding = true;
    try {
      this.session.ping(() => {
        // Answered or failed with the session; either way this timer has nothing left to do.
        clearTimeout(timer);
        this.pingOutstanding = false;
      });
    } catch {
      clearTimeout(timer);
      this.pingOutstanding = false;
    }
  }
}
