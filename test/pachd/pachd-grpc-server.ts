import { existsSync, lstatSync, unlinkSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { FaultInjector } from './fault-injector';
import { type ListenAddress, bindTarget } from './listen-address';
import type { PachdUnaryHandler } from './pachd-methods';
import { PachdStatusError, splitMethodPath } from './pachd-status';
import { callerTokenFrom } from './caller-token';
import type { StandinStats } from './standin-stats';
import { hashPachToken } from './token-store';
import type { ContendedWrite, WriteContention } from './write-contention';

/** One unary RPC path with its handler and (de)serializers. */
export interface RegisteredUnaryMethod {
  readonly path: string;
  readonly handler: PachdUnaryHandler;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
  /** Writes token rows: counted as a write, and subject to the contention model. */
  readonly tokenWrite: boolean;
}

export interface PachdGrpcServerOptions {
  methods: readonly RegisteredUnaryMethod[];
  credentials: grpc.ServerCredentials;
  faults: FaultInjector;
  contention: WriteContention;
  stats: StandinStats;
  logger: Logger;
  /** Log every call (path, code, duration); off by default because benchmarks go through here. */
  verbose: boolean;
}

function toServiceError(error: unknown): Partial<grpc.ServiceError> {
  if (error instanceof PachdStatusError) return { code: error.code, details: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: grpc.status.UNKNOWN, details: message };
}

/**
 * The pachd port. It can be taken down (listener closed, connections dropped, so clients see
 * refused connections) and brought back on exactly the same address, which a fresh grpc-js
 * server bound to the recorded address does.
 */
export class PachdGrpcServer {
  private server: grpc.Server | undefined;
  private bound: ListenAddress | undefined;

  constructor(private readonly options: PachdGrpcServerOptions) {}

  get serving(): boolean {
    return this.server !== undefined;
  }

  /** Binds and starts serving; resolves with the address actually bound (port 0 resolved). */
  async listen(address: ListenAddress): Promise<ListenAddress> {
    if (this.server !== undefined) throw new Error('the pachd port is already serving');
    const server = this.buildServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(bindTarget(address), this.options.credentials, (error, boundPort) => {
        if (error !== null) reject(error);
        else resolve(boundPort);
      });
    });
    this.server = server;
    this.bound = address.kind === 'tcp' ? { kind: 'tcp', host: address.host, port } : address;
    return this.bound;
  }

  /** Closes the listener and drops every connection; in-flight calls fail. */
  goDown(): void {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.forceShutdown();
  }

  /** Serves again on the address first bound. */
  async comeBack(): Promise<void> {
    const address = this.bound;
    if (address === undefined) throw new Error('the pachd port was never bound');
    if (this.server !== undefined) return;
    if (address.kind === 'unix') removeStaleSocket(address.path);
    await this.listen(address);
  }

  async stop(): Promise<void> {
    this.goDown();
    if (this.bound?.kind === 'unix') removeStaleSocket(this.bound.path);
  }

  private buildServer(): grpc.Server {
    const server = new grpc.Server();
    for (const method of this.options.methods) {
      server.register(method.path, this.wrap(method), method.serialize, method.deserialize, 'unary');
    }
    return server;
  }

  private wrap(method: RegisteredUnaryMethod): grpc.handleUnaryCall<unknown, unknown> {
    const { path, handler, tokenWrite } = method;
    const rpcName = splitMethodPath(path).method;
    const { faults, contention, stats, logger, verbose } = this.options;
    return (call, callback) => {
      const startedAt = verbose ? performance.now() : 0;
      const caller = callerTokenFrom(call.metadata);
      stats.callArrived(caller.kind === 'present' ? hashPachToken(caller.token) : undefined);
      if (tokenWrite) stats.writeArrived();
      let writeEnded = false;
      // Before answering, so a client that reads the stats after its reply sees this write ended.
      const endWrite = (): void => {
        if (!tokenWrite || writeEnded) return;
        writeEnded = true;
        stats.writeEnded();
      };
      const answer = (error: unknown, response?: unknown): void => {
        endWrite();
        if (error === null) callback(null, response);
        else callback(toServiceError(error));
        if (verbose) {
          const code = error === null ? grpc.status.OK : toServiceError(error).code;
          logger.debug(
            { path, code, durationMs: Math.round((performance.now() - startedAt) * 100) / 100 },
            'pachd call',
          );
        }
      };
      const runHandler = (): void => {
        let response: unknown;
        try {
          response = handler(call.request, { path, metadata: call.metadata });
        } catch (error) {
          if (!(error instanceof PachdStatusError)) logger.error({ err: error, path }, 'handler failed');
          answer(error);
          return;
        }
        if (tokenWrite) stats.writeApplied();
        answer(null, response);
      };
      const run = (injected: PachdStatusError | undefined): void => {
        if (injected !== undefined) {
          answer(injected);
        } else if (tokenWrite && contention.enabled) {
          contention.admit(contendedWrite(call, runHandler, answer, endWrite));
        } else {
          runHandler();
        }
      };
      const plan = faults.plan(path, rpcName);
      if (plan.delayMs > 0) setTimeout(run, plan.delayMs, plan.error);
      else run(plan.error);
    };
  }
}

/**
 * The write as the contention model sees it. grpc-js marks the server call cancelled, and emits
 * "cancelled", when the client cancels, its deadline passes (grpc-js runs the deadline timer on
 * the server side too) or the connection drops.
 */
function contendedWrite(
  call: grpc.ServerUnaryCall<unknown, unknown>,
  runHandler: () => void,
  answer: (error: unknown) => void,
  endWrite: () => void,
): ContendedWrite {
  return {
    clientGone: () => call.cancelled,
    whenClientGone: (listener) => {
      call.once('cancelled', listener);
      return () => {
        call.off('cancelled', listener);
      };
    },
    apply: runHandler,
    reject: (error) => answer(error),
    drop: endWrite,
  };
}

function removeStaleSocket(socketPath: string): void {
  if (existsSync(socketPath) && lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
}
