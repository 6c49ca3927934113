import {
  constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { MessageReader } from './grpc-framing';
import { GrpcStatus } from './grpc-status';
import { GrpcStatusError, type TrailerMetadata } from './grpc-status-error';
import type { Http2Connection } from './http2-connection';
import { decodeGrpcMessage, grpcTimeout, statusFromHttp, statusFromResetCode } from './http2-status-mapping';

const MAX_TIMER_MS = 0x7fff_ffff;

/** A header block as received: Node gives :status as a number. */
type ReplyHeaders = IncomingHttpHeaders & IncomingHttpStatusHeader;

/** What one unary exchange sends, besides the connection it goes on. */
export interface UnaryExchange {
  path: string;
  /** The request message, already framed (frameMessage). */
  body: Buffer;
  /** Header names in lowercase; values as ASCII text. */
  metadata: Readonly<Record<string, string>> | undefined;
  /** ms since the epoch; undefined: none. */
  deadline: number | undefined;
  maxReceiveMessageLength: number;
}

/**
 * One request and its single reply on one stream, ended by the first of: the server's status,
 * a reset, the connection failing, a message we refuse, or the deadline. Resolves with the reply
 * message's bytes; rejects with a GrpcStatusError only. Error texts never quote a header we
 * sent (they carry tokens).
 */
export function unaryCall(connection: Http2Connection, exchange: UnaryExchange): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let remainingMs: number | undefined;
    if (exchange.deadline !== undefined) {
      remainingMs = exchange.deadline - Date.now();
      if (remainingMs <= 0) {
        reject(new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded before the call started', true));
        return;
      }
    }
    const headers: OutgoingHttpHeaders = {
      ...exchange.metadata,
      ':method': 'POST',
      ':path': exchange.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (remainingMs !== undefined) headers['grpc-timeout'] = grpcTimeout(remainingMs);

    let stream: ClientHttp2Stream;
    try {
      stream = connection.session.request(headers, { endStream: false });
    } catch (error) {
      // The session closed under us (GOAWAY, destroyed) or refused a header: nothing went out.
      // Node's words for a bad header quote it, so only its code is kept.
      const code = (error as { code?: unknown }).code;
      reject(
        new GrpcStatusError(GrpcStatus.UNAVAILABLE, `cannot start a stream (${String(code ?? 'unknown error')})`, true),
      );
      return;
    }

    // Node fires a timer past 2^31-1 ms at once; a deadline that far off is left to grpc-timeout.
    const timer =
      remainingMs === undefined || remainingMs > MAX_TIMER_MS
        ? undefined
        : setTimeout(() => cancel(new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded')), remainingMs);
    const reader = new MessageReader(exchange.maxReceiveMessageLength);
    let responseHeaders: ReplyHeaders | undefined;
    let trailers: ReplyHeaders | undefined;
    let streamError: Error | undefined;
    let notGrpc = false;
    let settled = false;
    const settle = (outcome: Buffer | GrpcStatusError) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      connection.callEnded(inFlight);
      if (outcome instanceof GrpcStatusError) reject(outcome);
      else resolve(outcome);
    };
    // A failure decided here (refused message, deadline, GOAWAY) settles the call at once, not
    // when the stream gets round to closing: a stream on a stuck connection may take long to.
    const cancel = (failure: GrpcStatusError) => {
      settle(failure);
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };

    const inFlight = {
      stream,
      refuse: () =>
        cancel(new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the server is going away and did not take the call', true)),
    };
    connection.callStarted(inFlight);

    stream.on('response', (received: ReplyHeaders) => {
      responseHeaders = received;
      // Not a gRPC reply (a proxy's error page, say): its body is not made of gRPC messages.
      const contentType = received['content-type'];
      if (received[':status'] !== 200 || (contentType !== undefined && !contentType.startsWith('application/grpc'))) {
        notGrpc = true;
      }
    });
    stream.on('trailers', (received: ReplyHeaders) => {
      trailers = received;
    });
    stream.on('data', (chunk: Buffer) => {
      if (settled || notGrpc) return;
      try {
        reader.push(chunk);
      } catch (error) {
        cancel(
          error instanceof GrpcStatusError
            ? error
            : new GrpcStatusError(GrpcStatus.INTERNAL, 'the reply could not be read', false),
        );
        return;
      }
      // A unary reply has one message: a server that sends more is stopped at the second, before
      // it can make this process hold as many as it likes until the stream ends.
      if (reader.messages.length > 1) {
        cancel(new GrpcStatusError(GrpcStatus.INTERNAL, 'the server sent more than one reply', false));
      }
    });
    stream.on('error', (error: Error) => {
      streamError = error;
    });
    stream.once('close', () => {
      if (settled) return;
      settle(
        outcomeOf({
          connection,
          streamId: stream.id,
          rstCode: stream.rstCode,
          responseHeaders,
          trailers,
          streamError,
          reader,
        }),
      );
    });
    stream.end(exchange.body);
  });
}

interface Ending {
  connection: Http2Connection;
  streamId: number | undefined;
  rstCode: number | undefined;
  responseHeaders: ReplyHeaders | undefined;
  trailers: ReplyHeaders | undefined;
  streamError: Error | undefined;
  reader: MessageReader;
}

function outcomeOf(ending: Ending): Buffer | GrpcStatusError {
  const { connection, responseHeaders, reader } = ending;
  // Never sent: the connection never came up, the stream never got an id (it waited for one),
  // or the server said it stopped before this stream (GOAWAY) or refused it.
  const neverSent =
    !connection.connected ||
    ending.streamId === undefined ||
    ending.streamId > connection.lastStreamId ||
    ending.rstCode === constants.NGHTTP2_REFUSED_STREAM;

  if (responseHeaders === undefined || ending.trailers === undefined) {
    // Trailers-Only: the status came in the only header block there is.
    const statusHeaders =
      responseHeaders !== undefined && responseHeaders['grpc-status'] !== undefined ? responseHeaders : undefined;
    if (statusHeaders === undefined) return withoutStatus(ending, neverSent);
    return fromStatus(statusHeaders, reader);
  }
  const httpStatus = responseHeaders[':status'];
  if (httpStatus !== 200) return httpFailure(httpStatus, responseHeaders);
  const contentType = responseHeaders['content-type'];
  if (contentType !== undefined && !contentType.startsWith('application/grpc')) {
    return new GrpcStatusError(GrpcStatus.UNKNOWN, `the server answered with content-type ${contentType}, not gRPC`);
  }
  return fromStatus(ending.trailers, reader);
}

/** The stream ended without a status: a reset, a failed connection, or a server that forgot it. */
function withoutStatus(ending: Ending, neverSent: boolean): GrpcStatusError {
  const { connection, responseHeaders, streamError, rstCode } = ending;
  const connectionFailure = connection.failure ?? (isStreamReset(streamError) ? undefined : streamError);
  if (neverSent) {
    const why = connectionFailure?.message ?? (connection.connected ? 'the server refused the stream' : 'closed');
    return new GrpcStatusError(GrpcStatus.UNAVAILABLE, `no connection established: ${why}`, true);
  }
  if (responseHeaders !== undefined && responseHeaders[':status'] !== 200) {
    return httpFailure(responseHeaders[':status'], responseHeaders);
  }
  if (connectionFailure !== undefined) {
    return new GrpcStatusError(GrpcStatus.UNAVAILABLE, `connection lost: ${connectionFailure.message}`);
  }
  if (!isStreamReset(streamError) && connection.session.destroyed) {
    // The connection went away under the stream, without an error of its own (the peer closed
    // it); Node then marks its streams cancelled, which is not the server's word.
    return new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the connection closed before the server answered');
  }
  if (rstCode !== undefined && rstCode !== constants.NGHTTP2_NO_ERROR) {
    return new GrpcStatusError(statusFromResetCode(rstCode), `stream reset by the server (HTTP/2 error ${rstCode})`);
  }
  if (responseHeaders !== undefined) {
    return new GrpcStatusError(GrpcStatus.UNKNOWN, 'the server ended the call without a status');
  }
  return new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the connection closed before the server answered');
}

function isStreamReset(error: Error | undefined): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'ERR_HTTP2_STREAM_ERROR';
}

function httpFailure(httpStatus: number | undefined, headers: ReplyHeaders): GrpcStatusError {
  return new GrpcStatusError(
    statusFromHttp(httpStatus ?? 0),
    `the server answered HTTP status ${httpStatus ?? 'none'}`,
    false,
    metadataOf(headers),
  );
}

function fromStatus(headers: ReplyHeaders, reader: MessageReader): Buffer | GrpcStatusError {
  const httpStatus = headers[':status'];
  // In trailers there is no :status; in a Trailers-Only reply there is, and it must be 200.
  if (httpStatus !== undefined && httpStatus !== 200) return httpFailure(httpStatus, headers);
  const statusText = single(headers['grpc-status']);
  const code = statusText !== undefined && /^\d{1,3}$/.test(statusText) ? Number(statusText) : undefined;
  if (code === undefined) {
    return new GrpcStatusError(GrpcStatus.UNKNOWN, 'the server sent no valid grpc-status', false, metadataOf(headers));
  }
  if (code !== GrpcStatus.OK) {
    const details = decodeGrpcMessage(single(headers['grpc-message']) ?? '');
    return new GrpcStatusError(code, details, false, metadataOf(headers));
  }
  if (reader.truncated) return new GrpcStatusError(GrpcStatus.INTERNAL, 'the reply ended inside a message');
  const [message, extra] = reader.messages;
  if (message === undefined) return new GrpcStatusError(GrpcStatus.INTERNAL, 'the server sent no reply message');
  if (extra !== undefined) return new GrpcStatusError(GrpcStatus.INTERNAL, 'the server sent more than one reply');
  return message;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** What a failure keeps of the server's metadata: everything but HTTP/2's own and gRPC's fields. */
function metadataOf(headers: ReplyHeaders): TrailerMetadata {
  const metadata: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    if (name === 'grpc-status' || name === 'grpc-message' || name === 'content-type') continue;
    metadata[name] = value;
  }
  return metadata;
}
