/**
 * @file
 * Vault's `pb.Backend` service in front of framework backends, plus `logical.PluginVersion` and
 * `PluginMultiplexing`. With multiplexing, one process serves every mount of the plugin: each
 * mount's calls carry its own `multiplex_id`, and each gets its own backend, broker connection
 * and storage, created by its `Setup` and dropped by its `Cleanup`.
 */

import * as grpc from '@grpc/grpc-js';
import type { Broker } from '../goplugin/broker';
import type { Logger } from '../goplugin/logger';
import { Redactor } from '../goplugin/redactor';
import type { Http2UnaryClient } from '../grpc/http2-unary-client';
import { serviceDefinition } from '../grpc/proto-loading';
import { AfterResponse, DeferredWork } from './after-response';
import { answerProblem } from './answer-check';
import { ErrorType, VaultError } from './errors';
import type { Backend, BackendConfig } from './framework';
import { HostStorage, HostSystemView, RequestConsistency } from './host-clients';
import type {
  WireHandleExistenceCheckReply,
  WireHandleRequestArgs,
  WireHandleRequestReply,
  WirePaths,
  WireProtoError,
  WireSetupArgs,
} from './protos';
import { vaultDefinitions } from './protos';
import { errorToWire, requestFromWire, responseToWire, utf8Safe } from './translation';

export type BackendFactory = (config: BackendConfig) => Backend | Promise<Backend>;

export interface BackendServerOptions {
  factory: BackendFactory;
  /** `vX.Y.Z`, compared by Vault with the version given at registration. */
  version: string;
  logger: Logger;
  multiplexing: boolean;
}

/**
 * How long after handing an answer to grpc-js its after-response work waits. grpc-js says
 * nothing when the answer's trailers reach the socket, and a host that has the message but not
 * the trailers counts the call as failed: work that releases what covers the answer (a WAL entry)
 * must not run before then. The wait errs towards keeping the entry: if the process dies during
 * it, the entry outlives the answer and the rollback undoes what a delivered answer carried.
 */
const DELIVERY_GRACE_MS = 500;

/** Backend type logical: a secrets engine. */
const TYPE_LOGICAL = 1;
const MULTIPLEX_ID_KEY = 'multiplex_id';
// Without multiplexing there is one mount per process, whatever id the host sends.
const SINGLE_INSTANCE = 'single';

interface MountInstance {
  backend: Backend;
  /** The broker connection to the host's storage and system view. */
  host: Http2UnaryClient;
  storage: HostStorage;
  /**
   * This mount's secrets, kept out of its error texts and log lines, and checked for in its
   * answers; no other mount's secret can touch what this mount says.
   */
  redactor: Redactor;
  logger: Logger;
  /**
   * After-response work waiting out its delivery grace, or running: a mount that closes first runs
   * what waits at once, and waits for all of it.
   */
  afterResponses: DeferredWork;
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

export class BackendServer {
  private readonly instances = new Map<string, MountInstance>();

  constructor(
    private readonly options: BackendServerOptions,
    private readonly broker: Broker,
  ) {}

  register(server: grpc.Server): void {
    server.addService(serviceDefinition(vaultDefinitions, 'pb.Backend'), {
      Setup: this.unary((call) => this.setup(call)),
      Type: this.unary(async () => ({ type: TYPE_LOGICAL })),
      SpecialPaths: this.unary(async (call) => ({ paths: this.specialPaths(call) })),
      Initialize: this.unary((call) => this.initialize(call)),
      HandleRequest: (
        call: grpc.ServerUnaryCall<WireHandleRequestArgs, WireHandleRequestReply>,
        callback: grpc.sendUnaryData<WireHandleRequestReply>,
      ) => this.serveRequest(call, callback),
      HandleExistenceCheck: this.unary((call: grpc.ServerUnaryCall<WireHandleRequestArgs, unknown>) =>
        this.existenceCheck(call),
      ),
      InvalidateKey: this.unary(async (call: grpc.ServerUnaryCall<{ key: string }, unknown>) => {
        this.instance(call).backend.invalidate(call.request.key);
        return {};
      }),
      Cleanup: this.unary((call) => this.cleanup(call)),
    });
    server.addService(serviceDefinition(vaultDefinitions, 'logical.PluginVersion'), {
      Version: this.unary(async () => ({ plugin_version: this.options.version })),
    });
    server.addService(serviceDefinition(vaultDefinitions, 'pluginutil.multiplexing.PluginMultiplexing'), {
      MultiplexingSupport: this.unary(async () => ({ supported: this.options.multiplexing })),
    });
  }

  /** Cleans up every mount still served; the process is about to exit. */
  async cleanupAll(): Promise<void> {
    const instances = [...this.instances.values()];
    this.instances.clear();
    await Promise.allSettled(instances.map((instance) => this.close(instance)));
  }

  /** gRPC errors are for transport trouble; everything a backend says travels in the reply. */
  private unary<Req, Res>(run: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      run(call).then(
        (reply) => callback(null, reply),
        (error: unknown) => this.failCall(call, callback, error),
      );
    };
  }

  /** A call that failed outside any backend's answer: a gRPC error, in this mount's words only. */
  private failCall(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: (error: grpc.ServiceError | null) => void,
    error: unknown,
  ): void {
    const mount = this.knownInstance(call);
    const detail = utf8Safe(mount === undefined ? errorMessage(error) : mount.redactor.scrub(errorMessage(error)));
    (mount?.logger ?? this.options.logger).error('backend call failed', { method: call.getPath(), error: detail });
    callback({ code: grpc.status.INTERNAL, details: detail } as grpc.ServiceError);
  }

  private knownInstance(call: grpc.ServerUnaryCall<unknown, unknown>): MountInstance | undefined {
    try {
      return this.instance(call);
    } catch {
      return undefined;
    }
  }

  private multiplexId(call: grpc.ServerUnaryCall<unknown, unknown>): string {
    if (!this.options.multiplexing) return SINGLE_INSTANCE;
    const values = call.metadata.get(MULTIPLEX_ID_KEY);
    if (values.length !== 1 || String(values[0]) === '') {
      throw new Error(`expected exactly one ${MULTIPLEX_ID_KEY} in the call metadata, got ${values.length}`);
    }
    return String(values[0]);
  }

  private instance(call: grpc.ServerUnaryCall<unknown, unknown>): MountInstance {
    const id = this.multiplexId(call);
    const instance = this.instances.get(id);
    if (instance === undefined) throw new Error(`no backend for ${MULTIPLEX_ID_KEY} ${id}: Setup was not called`);
    return instance;
  }

  private async setup(call: grpc.ServerUnaryCall<WireSetupArgs, unknown>): Promise<{ err: string }> {
    const id = this.multiplexId(call);
    const args = call.request;
    let host: Http2UnaryClient | undefined;
    try {
      host = await this.broker.dial(args.broker_id);
      const storage = new HostStorage(host);
      const redactor = new Redactor();
      const logger = this.options.logger.redacting(redactor);
      const backend = await this.options.factory({
        storage,
        system: new HostSystemView(host),
        logger,
        redactor,
        config: { ...args.Config },
        backendUuid: args.backendUUID,
      });
      const previous = this.instances.get(id);
      this.instances.set(id, { backend, host, storage, redactor, logger, afterResponses: new DeferredWork() });
      if (previous !== undefined) await this.close(previous);
      return { err: '' };
    } catch (error) {
      host?.close();
      this.options.logger.error('setup failed', { error: errorMessage(error) });
      return { err: errorMessage(error) };
    }
  }

  private specialPaths(call: grpc.ServerUnaryCall<unknown, unknown>): WirePaths {
    const paths = this.instance(call).backend.specialPaths();
    return {
      root: paths.root,
      unauthenticated: paths.unauthenticated,
      local_storage: paths.localStorage,
      seal_wrap_storage: paths.sealWrapStorage,
      write_forwarded_storage: paths.writeForwardedStorage,
      binary: [],
      limited: [],
      allow_snapshot_read: [],
    };
  }

  private async initialize(call: grpc.ServerUnaryCall<unknown, unknown>): Promise<{ err: WireProtoError | null }> {
    const instance = this.instance(call);
    try {
      await instance.backend.initialize(instance.storage.forRequest(new RequestConsistency(call.metadata)));
      return { err: null };
    } catch (error) {
      this.options.logger.error('initialize failed', { error: errorMessage(error) });
      return { err: errorToWire(error).err };
    }
  }

  /**
   * HandleRequest, with the request's after-response work run once the reply is handed to
   * grpc-js. The reply is encoded here, before it counts as given: one the host could not decode
   * would reach it as a failed call, and the work must then be told the host holds nothing. A
   * host that cancelled first never sees the reply, and the work is told so too.
   */
  private serveRequest(
    call: grpc.ServerUnaryCall<WireHandleRequestArgs, WireHandleRequestReply>,
    callback: grpc.sendUnaryData<WireHandleRequestReply>,
  ): void {
    const after = new AfterResponse();
    let mount: MountInstance | undefined;
    this.handleRequest(call, after, (instance) => (mount = instance)).then(
      (reply) => {
        const encoded = this.encodeReply(reply, mount);
        // Read before answering: grpc-js marks every call cancelled once its stream has closed,
        // however it closed, so only now does the flag mean the host gave up.
        const delivered = !call.cancelled && encoded.delivers;
        // The serializer passes encoded bytes through unchanged (proto-loading.ts).
        callback(null, encoded.bytes as unknown as WireHandleRequestReply);
        if (after.pending === 0) return;
        const logger = mount?.logger ?? this.options.logger;
        if (mount === undefined) {
          void after.settle(false, logger);
          return;
        }
        mount.afterResponses.defer(DELIVERY_GRACE_MS, () => after.settle(delivered, logger));
      },
      (error: unknown) => {
        this.failCall(call, callback, error);
        if (after.pending > 0) void after.settle(false, mount?.logger ?? this.options.logger);
      },
    );
  }

  /**
   * The reply's bytes, and whether they carry the backend's answer. An answer that reveals one of
   * the mount's secrets, or that the host could not decode, is replaced by an error: it is never
   * rewritten, and never counted as given.
   */
  private encodeReply(
    reply: WireHandleRequestReply,
    mount: MountInstance | undefined,
  ): { bytes: Buffer; delivers: boolean } {
    const problem = reply.err === null ? answerProblem(reply, mount?.redactor) : undefined;
    if (problem === undefined) {
      try {
        return { bytes: vaultDefinitions.encode('pb.HandleRequestReply', reply), delivers: reply.err === null };
      } catch (error) {
        return this.encodeWithheld(reply, mount, `the answer could not be encoded: ${errorMessage(error)}`);
      }
    }
    return this.encodeWithheld(reply, mount, problem);
  }

  private encodeWithheld(
    reply: WireHandleRequestReply,
    mount: MountInstance | undefined,
    problem: string,
  ): { bytes: Buffer; delivers: false } {
    (mount?.logger ?? this.options.logger).error('withheld an answer', { problem });
    const { err } = errorToWire(new Error(`the plugin withheld its answer: ${problem}`));
    const withheld: WireHandleRequestReply = { response: null, err, walIndex: reply.walIndex };
    return { bytes: vaultDefinitions.encode('pb.HandleRequestReply', withheld), delivers: false };
  }

  private async handleRequest(
    call: grpc.ServerUnaryCall<WireHandleRequestArgs, unknown>,
    after: AfterResponse,
    found: (instance: MountInstance) => void,
  ): Promise<WireHandleRequestReply> {
    const instance = this.instance(call);
    found(instance);
    const consistency = new RequestConsistency(call.metadata);
    const wire = call.request.request;
    if (wire === null || wire === undefined) throw new Error('HandleRequest without a request');
    const censor = (text: string) => instance.redactor.scrub(text);
    try {
      const request = requestFromWire(wire, instance.storage.forRequest(consistency), {
        // grpc-js keeps the flag itself; an AbortController per request cost more than the request.
        cancelled: () => call.cancelled,
        deadline: deadlineOf(call),
        afterResponse: after.add,
      });
      const response = await instance.backend.handleRequest(request);
      if (response?.warnings !== undefined) response.warnings = response.warnings.map(censor);
      return {
        response: response === undefined ? null : responseToWire(response),
        err: null,
        walIndex: consistency.walIndex(),
      };
    } catch (error) {
      this.logFailure(instance.logger, wire.operation, wire.path, error);
      const { err, response } = errorToWire(error, censor);
      return { response: response ?? null, err, walIndex: consistency.walIndex() };
    }
  }

  private async existenceCheck(
    call: grpc.ServerUnaryCall<WireHandleRequestArgs, unknown>,
  ): Promise<WireHandleExistenceCheckReply> {
    const instance = this.instance(call);
    const wire = call.request.request;
    if (wire === null || wire === undefined) throw new Error('HandleExistenceCheck without a request');
    try {
      const request = requestFromWire(wire, instance.storage.forRequest(new RequestConsistency(call.metadata)), {
        cancelled: () => call.cancelled,
        deadline: deadlineOf(call),
      });
      const { checkFound, exists } = await instance.backend.existenceCheck(request);
      return { check_found: checkFound, exists, err: null };
    } catch (error) {
      this.logFailure(instance.logger, 'existence check', wire.path, error);
      return {
        check_found: false,
        exists: false,
        err: existenceCheckError(error, (text) => instance.redactor.scrub(text)),
      };
    }
  }

  private async cleanup(call: grpc.ServerUnaryCall<unknown, unknown>): Promise<object> {
    const id = this.multiplexId(call);
    const instance = this.instances.get(id);
    if (instance !== undefined) {
      this.instances.delete(id);
      await this.close(instance);
    }
    return {};
  }

  /**
   * Closes a mount: first the work its answers left (a reload, seal or step-down must not leave a
   * delivered token's journal for the rollback to revoke under a held lease), while the host still
   * serves its storage; then the backend; then its connection.
   */
  private async close(instance: MountInstance): Promise<void> {
    try {
      await instance.afterResponses.flush();
      await instance.backend.cleanup();
    } catch (error) {
      instance.logger.warn('backend cleanup failed', { error: errorMessage(error) });
    } finally {
      instance.host.close();
    }
  }

  private logFailure(logger: Logger, operation: string, path: string, error: unknown): void {
    if (error instanceof VaultError) {
      logger.debug('request refused', { operation, path, error: error.message });
    } else {
      logger.error('request failed', {
        operation,
        path,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  }
}

/**
 * Vault treats an existence check's error as "no check" when it is an unsupported path, shows it
 * to the caller as a 400 when it is a user error, and turns anything else into a bare 500.
 */
function existenceCheckError(error: unknown, censor: (text: string) => string): WireProtoError {
  const wire = errorToWire(error, censor).err;
  if (error instanceof VaultError && error.type !== ErrorType.UnsupportedPath && error.type !== ErrorType.Internal) {
    return { ...wire, err_type: ErrorType.User };
  }
  return wire;
}

/** The host's deadline for a call, as ms since the epoch (grpc-js says Infinity when none). */
function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
