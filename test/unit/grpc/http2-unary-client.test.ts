import * as http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { frameMessage } from '../../../plugin/grpc/grpc-framing';
import { GrpcStatus } from '../../../plugin/grpc/grpc-status';
import { GrpcStatusError } from '../../../plugin/grpc/grpc-status-error';
import { Http2UnaryClient, type Http2ClientOptions } from '../../../plugin/grpc/http2-unary-client';
import { makeLocalhostCertificate, type TlsFixture } from '../../pachd/tls-fixture';

/**
 * The client against servers that misbehave on purpose: each test's server answers every stream
 * with the handler it installs. The server is Node's own HTTP/2 server, so what reaches the
 * client is exactly the frames the handler makes.
 */

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

const SECRET = 'pachd-token-0123456789abcdef-never-in-a-message';
const OK_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };

function framedPrefix(flag: number, length: number): Buffer {
  const bytes = Buffer.alloc(5);
  bytes[0] = flag;
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

/** A well-behaved reply: headers, the framed message, then trailers with the status. */
function answer(stream: http2.ServerHttp2Stream, body: Buffer, status = 0): void {
  stream.respond(OK_HEADERS, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status) }));
  stream.end(body);
}

class HostileServer {
  handler: Handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
  sessions = 0;
  private readonly open = new Set<http2.ServerHttp2Session>();
  readonly requests: http2.IncomingHttpHeaders[] = [];
  readonly closedStreams: number[] = [];

  constructor(readonly server: http2.Http2Server | http2.Http2SecureServer) {
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions++;
      this.open.add(session);
      session.on('error', () => undefined);
      session.on('close', () => this.open.delete(session));
    });
    server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      this.requests.push(headers);
      stream.on('error', () => undefined);
      stream.on('close', () => this.closedStreams.push(stream.rstCode));
      // Read the request through, as a real server does, before the handler answers.
      stream.resume();
      stream.on('end', () => {
        if (!stream.closed) this.handler(stream, headers);
      });
    });
  }

  static async plain(listen: number | string = 0): Promise<HostileServer> {
    const hostile = new HostileServer(http2.createServer());
    await new Promise<void>((resolve) => hostile.server.listen(listen, resolve));
    return hostile;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops at once: the server's close alone waits for every client to hang up. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.open) session.destroy();
    await closed;
  }
}

const clients: Http2UnaryClient[] = [];
function clientOf(options: Http2ClientOptions): Http2UnaryClient {
  const client = new Http2UnaryClient(options);
  clients.push(client);
  return client;
}

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

async function failure(call: Promise<unknown>): Promise<GrpcStatusError> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof GrpcStatusError)) throw error;
    expect(error.message).not.toContain(SECRET);
    expect(error.details).not.toContain(SECRET);
    return error;
  }
  throw new Error('the call succeeded');
}

const ping = (client: Http2UnaryClient, deadline: number | undefined = Date.now() + 5000) =>
  client.unary('/test.Service/Ping', Buffer.from('ping'), { 'authn-token': SECRET }, deadline);

describe('unary calls over node:http2', () => {
  let server: HostileServer;
  let client: Http2UnaryClient;

  beforeEach(async () => {
    server = await HostileServer.plain();
    client = clientOf({ target: `127.0.0.1:${server.port}`, maxReceiveMessageLength: 1024 });
  });

  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('sends a gRPC request: POST, path, content type, te, timeout, metadata and a framed message', async () => {
    let body = Buffer.alloc(0);
    server.handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
    server.server.once('stream', (stream: http2.ServerHttp2Stream) => {
      stream.on('data', (chunk: Buffer) => (body = Buffer.concat([body, chunk])));
    });
    expect(String(await ping(client))).toBe('pong');
    const [headers] = server.requests;
    expect(headers).toMatchObject({
      ':method': 'POST',
      ':path': '/test.Service/Ping',
      ':scheme': 'http',
      'content-type': 'application/grpc',
      te: 'trailers',
      'authn-token': SECRET,
    });
    expect(headers?.['grpc-timeout']).toMatch(/^\d{1,8}m$/);
    expect(body).toEqual(frameMessage(Buffer.from('ping')));
  });

  it('sends no grpc-timeout without a deadline', async () => {
    await client.unary('/test.Service/Ping', Buffer.alloc(0), undefined, undefined);
    expect(server.requests[0]?.['grpc-timeout']).toBeUndefined();
  });

  it('reuses one connection for sequential and concurrent calls', async () => {
    await ping(client);
    await Promise.all([ping(client), ping(client), ping(client)]);
    await ping(client);
    expect(server.sessions).toBe(1);
  });

  it('reads a reply cut into single-byte DATA frames', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      for (const byte of frameMessage(Buffer.from('slowly'))) stream.write(Buffer.from([byte]));
      stream.end();
    };
    expect(String(await ping(client))).toBe('slowly');
  });

  it('takes an empty reply message', async () => {
    server.handler = (stream) => answer(stream, frameMessage(Buffer.alloc(0)));
    expect((await ping(client)).length).toBe(0);
  });

  it('reads a Trailers-Only reply: the status in the only header block, percent-decoded', async () => {
    server.handler = (stream) =>
      stream.respond(
        { ...OK_HEADERS, 'grpc-status': '7', 'grpc-message': 'not%20yours%3A %E2%9C%93', 'x-why': 'policy' },
        { endStream: true },
      );
    const error = await failure(ping(client));
    expect(error.code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(error.details).toBe('not yours: ✓');
    expect(error.message).toBe('7 PERMISSION_DENIED: not yours: ✓');
    expect(error.metadata['x-why']).toBe('policy');
    expect(error.neverSent).toBe(false);
  });

  it('reads an error status in trailers after headers', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'busy' }));
      stream.end();
    };
    const error = await failure(ping(client));
    expect(error).toMatchObject({ code: GrpcStatus.UNAVAILABLE, details: 'busy', neverSent: false });
  });

  it.each([
    [503, GrpcStatus.UNAVAILABLE],
    [502, GrpcStatus.UNAVAILABLE],
    [404, GrpcStatus.UNIMPLEMENTED],
    [401, GrpcStatus.UNAUTHENTICATED],
    [500, GrpcStatus.UNKNOWN],
  ])('maps a proxy answer of HTTP %i to status %i, as sent', async (http, code) => {
    server.handler = (stream) => {
      stream.respond({ ':status': http, 'content-type': 'text/html' });
      stream.end('<html>bad gateway</html>');
    };
    const error = await failure(ping(client));
    expect(error.code).toBe(code);
    expect(error.neverSent).toBe(false);
  });

  it('refuses a 200 reply that is not gRPC', async () => {
    server.handler = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'text/html' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frameMessage(Buffer.from('pong')));
    };
    expect((await failure(ping(client))).code).toBe(GrpcStatus.UNKNOWN);
  });

  it('fails a reply whose headers and end carry no status', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS);
      stream.end(frameMessage(Buffer.from('pong')));
    };
    expect((await failure(ping(client))).code).toBe(GrpcStatus.UNKNOWN);
  });

  it('fails a grpc-status that is not a number', async () => {
    server.handler = (stream) => stream.respond({ ...OK_HEADERS, 'grpc-status': 'zero' }, { endStream: true });
    expect((await failure(ping(client))).code).toBe(GrpcStatus.UNKNOWN);
  });

  it('fails an OK reply without a message, with two, or ending inside one', async () => {
    server.handler = (stream) => answer(stream, Buffer.alloc(0));
    expect((await failure(ping(client))).code).toBe(GrpcStatus.INTERNAL);
    server.handler = (stream) =>
      answer(stream, Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))]));
    expect((await failure(ping(client))).code).toBe(GrpcStatus.INTERNAL);
    server.handler = (stream) => answer(stream, Buffer.concat([framedPrefix(0, 10), Buffer.from('abc')]));
    const truncated = await failure(ping(client));
    expect(truncated.code).toBe(GrpcStatus.INTERNAL);
    expect(truncated.details).toContain('inside a message');
  });

  it('stops a server that keeps sending messages at the second one, without waiting for the end', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS);
      // Never ends: without the stop at the second message the client would hold them all until
      // its deadline.
      const empty = frameMessage(Buffer.alloc(0));
      const flood = setInterval(() => {
        if (stream.closed || stream.destroyed) clearInterval(flood);
        else stream.write(Buffer.concat(Array.from({ length: 1000 }, () => empty)));
      }, 1);
    };
    // Without the stop the call would end only at its deadline, as DEADLINE_EXCEEDED.
    const error = await failure(ping(client, Date.now() + 10_000));
    expect(error.code).toBe(GrpcStatus.INTERNAL);
    expect(error.details).toContain('more than one reply');
    await waitFor(() => server.closedStreams.length === 1);
    expect(server.closedStreams[0]).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('refuses a huge length prefix at once and cancels the stream', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS);
      // The prefix promises 4 GiB; the body never comes. The client must not wait for it.
      stream.write(framedPrefix(0, 0xffff_ffff));
    };
    const error = await failure(ping(client, Date.now() + 10_000));
    expect(error.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    await waitFor(() => server.closedStreams.length === 1);
    expect(server.closedStreams[0]).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('refuses a compressed reply and garbage flags', async () => {
    server.handler = (stream) => answer(stream, Buffer.concat([framedPrefix(1, 3), Buffer.from('zip')]));
    expect((await failure(ping(client))).details).toContain('compressed');
    server.handler = (stream) => answer(stream, Buffer.from('\xff\xfegarbage-not-a-frame', 'latin1'));
    expect((await failure(ping(client))).code).toBe(GrpcStatus.INTERNAL);
  });

  it('maps a reset mid-message, and reports it as maybe processed', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS);
      // destroy resets at once (RST_STREAM INTERNAL_ERROR); close would end the stream first.
      stream.write(Buffer.concat([framedPrefix(0, 100), Buffer.from('part')]), () => stream.destroy(new Error('boom')));
    };
    const error = await failure(ping(client));
    expect(error.code).toBe(GrpcStatus.INTERNAL);
    expect(error.neverSent).toBe(false);
  });

  it('fails a reply that ends inside a message with neither trailers nor a reset', async () => {
    server.handler = (stream) => {
      stream.respond(OK_HEADERS);
      stream.end(Buffer.concat([framedPrefix(0, 100), Buffer.from('part')]));
    };
    expect(await failure(ping(client))).toMatchObject({ code: GrpcStatus.UNKNOWN, neverSent: false });
  });

  it('maps a reset before any answer: REFUSED_STREAM is never sent, CANCEL is cancelled', async () => {
    server.handler = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    expect(await failure(ping(client))).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
    server.handler = (stream) => stream.close(http2.constants.NGHTTP2_CANCEL);
    expect(await failure(ping(client))).toMatchObject({ code: GrpcStatus.CANCELLED, neverSent: false });
  });

  it('ends a call at its deadline, cancelling the stream', async () => {
    server.handler = () => undefined;
    const started = Date.now();
    const error = await failure(ping(client, Date.now() + 150));
    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2000);
    await waitFor(() => server.closedStreams.length === 1);
    expect(server.closedStreams[0]).toBe(http2.constants.NGHTTP2_CANCEL);
    // The connection stays usable.
    server.handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
    expect(String(await ping(client))).toBe('pong');
  });

  it('fails a deadline already past without sending anything', async () => {
    const error = await failure(ping(client, Date.now() - 1));
    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a header HTTP/2 cannot carry without quoting its value, sending nothing', async () => {
    const error = await failure(client.unary('/test.Service/Ping', Buffer.alloc(0), { connection: SECRET }, undefined));
    expect(error).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
    expect(server.requests).toHaveLength(0);
  });

  it('moves to a new connection after a graceful GOAWAY', async () => {
    await ping(client);
    server.handler = (stream, headers) => {
      answer(stream, frameMessage(Buffer.from('last')));
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, Number(headers[':stream-id'] ?? 3));
    };
    expect(String(await ping(client))).toBe('last');
    server.handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
    await waitFor(() => server.sessions === 1);
    expect(String(await ping(client))).toBe('pong');
    expect(server.sessions).toBe(2);
  });

  it('reports a call above a GOAWAY last stream id as never sent, and the next call reconnects', async () => {
    let first: http2.ServerHttp2Stream | undefined;
    server.handler = (stream) => {
      if (first === undefined) {
        first = stream;
        return;
      }
      // The second stream arrived: process the first only, and say so.
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, first.id);
      answer(first, frameMessage(Buffer.from('first')));
    };
    const firstCall = ping(client);
    await waitFor(() => first !== undefined);
    const secondCall = failure(ping(client));
    expect(String(await firstCall)).toBe('first');
    expect(await secondCall).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
    server.handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
    expect(String(await ping(client))).toBe('pong');
    expect(server.sessions).toBe(2);
  });

  it('reports a call on a connection that died under it as unavailable, maybe processed', async () => {
    server.handler = (stream) => stream.session?.destroy();
    const error = await failure(ping(client));
    expect(error).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: false });
    server.handler = (stream) => answer(stream, frameMessage(Buffer.from('pong')));
    expect(String(await ping(client))).toBe('pong');
  });
});

describe('connections that fail', () => {
  it('reports a refused connection as never sent', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = clientOf({ target: `127.0.0.1:${port}` });
    const error = await failure(ping(client));
    expect(error).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
    expect(error.details).toContain('ECONNREFUSED');
  });

  it('reports a missing Unix socket as never sent', async () => {
    const client = clientOf({ target: { socketPath: path.join(tmpdir(), 'no-such-dir-h2', 'none.sock') } });
    const error = await failure(ping(client));
    expect(error).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
    expect(error.details).toContain('ENOENT');
  });

  it('fails a server that answers with garbage bytes instead of HTTP/2', async () => {
    const sockets: net.Socket[] = [];
    const junk = net.createServer((socket) => {
      sockets.push(socket);
      socket.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    });
    await new Promise<void>((resolve) => junk.listen(0, '127.0.0.1', resolve));
    try {
      const client = clientOf({ target: `127.0.0.1:${(junk.address() as net.AddressInfo).port}` });
      expect((await failure(ping(client))).code).toBe(GrpcStatus.UNAVAILABLE);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => junk.close(() => resolve()));
    }
  });

  it('drops a connection whose keepalive pings go unanswered', async () => {
    // Accepts the connection and reads everything, answers nothing (not even SETTINGS).
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const client = clientOf({
        target: `127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
        keepalive: { intervalMs: 50, timeoutMs: 100 },
      });
      const started = Date.now();
      const error = await failure(ping(client, Date.now() + 10_000));
      expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(error.details).toContain('keepalive');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('Unix sockets and TLS', () => {
  let tls: TlsFixture;
  let directory: string;

  beforeAll(() => {
    tls = makeLocalhostCertificate();
    directory = mkdtempSync(path.join(tmpdir(), 'h2-client-'));
  });

  afterAll(() => {
    tls.remove();
    rmSync(directory, { recursive: true, force: true });
  });

  it('calls over a Unix socket in plaintext', async () => {
    const socketPath = path.join(directory, 'plain.sock');
    const server = await HostileServer.plain(socketPath);
    try {
      const client = clientOf({ target: { socketPath } });
      expect(String(await ping(client))).toBe('pong');
      expect(server.requests[0]?.[':authority']).toMatch(/^localhost(:\d+)?$/);
    } finally {
      await server.stop();
    }
  });

  async function secureServer(listen: number | string, requestCert: boolean): Promise<HostileServer> {
    const hostile = new HostileServer(
      http2.createSecureServer({
        cert: tls.certPem,
        key: tls.keyPem,
        ca: tls.certPem,
        requestCert,
        rejectUnauthorized: requestCert,
      }),
    );
    await new Promise<void>((resolve) => hostile.server.listen(listen, resolve));
    return hostile;
  }

  it('calls over TLS with a given CA, checking the server name', async () => {
    const server = await secureServer(0, false);
    try {
      const trusted = clientOf({ target: `localhost:${server.port}`, tls: { ca: tls.certPem } });
      expect(String(await ping(trusted))).toBe('pong');
      // The certificate names localhost and 127.0.0.1, not this.
      const misnamed = clientOf({
        target: `127.0.0.1:${server.port}`,
        tls: { ca: tls.certPem, servername: 'pachd.example.com' },
      });
      expect(await failure(ping(misnamed))).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
      const other = makeLocalhostCertificate();
      try {
        const untrusting = clientOf({ target: `localhost:${server.port}`, tls: { ca: other.certPem } });
        expect(await failure(ping(untrusting))).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
      } finally {
        other.remove();
      }
    } finally {
      await server.stop();
    }
  });

  it('calls over mutual TLS on a Unix socket, naming the server localhost', async () => {
    const socketPath = path.join(directory, 'mtls.sock');
    const server = await secureServer(socketPath, true);
    try {
      const client = clientOf({
        target: { socketPath },
        tls: { ca: tls.certPem, cert: tls.certPem, key: tls.keyPem },
      });
      expect(String(await ping(client))).toBe('pong');
      const anonymous = clientOf({ target: { socketPath }, tls: { ca: tls.certPem } });
      expect((await failure(ping(anonymous))).code).toBe(GrpcStatus.UNAVAILABLE);
    } finally {
      await server.stop();
    }
  });

  it('refuses calls once closed', async () => {
    const client = clientOf({ target: '127.0.0.1:1' });
    client.close();
    expect(await failure(ping(client))).toMatchObject({ code: GrpcStatus.UNAVAILABLE, neverSent: true });
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 200 && !condition(); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

describe('far deadlines', () => {
  it('does not turn a deadline past what a Node timer holds into an immediate one', async () => {
    const server = await HostileServer.plain();
    try {
      const client = clientOf({ target: `127.0.0.1:${server.port}` });
      const farOff = Date.now() + 30 * 24 * 3600 * 1000;
      expect(String(await ping(client, farOff))).toBe('pong');
      expect(server.requests[0]?.['grpc-timeout']).toMatch(/^\d{1,8}S$/);
    } finally {
      await server.stop();
    }
  });
});
