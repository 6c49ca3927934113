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
import type { Redactor } from '../goplugin/redactor';
import { serviceDefinition } from '../grpc/proto-loading';
import { AfterResponse } from './after-response';
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
import { errorToWire, requestFromWire, responseToWire } from './translation';

export type BackendFactory = (config: BackendConfig) => Backend | Promise<Backend>;

export interface BackendServerOptions {
  factory: BackendFactory;
  /** `vX.Y.Z`, compared by Vault with the version given at registration. */
  version: string;
  logger: Logger;
  multiplexing: boolean;
  /** Scrubs registered secrets from every answer and error text, whatever path produced them. */
  redactor: Redactor;
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
  channel: grpc.Channel;
  storage: HostStorage;
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
        (error: unknown) => {
          const detail = this.options.redactor.scrub(errorMessage(error));
          this.options.logger.error('backend call failed', { method: call.getPath(), error: detail });
          callback({ code: grpc.status.INTERNAL, details: detail });
        },
      );
    };
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
    let channel: grpc.Channel | undefined;
    try {
      channel = await this.broker.dial(args.broker_id);
      const storage = new HostStorage(channel);
      const backend = await this.options.factory({
        storage,
        system: new HostSystemView(channel),
        logger: this.options.logger,
        redactor: this.options.redactor,
        config: { ...args.Config },
        backendUuid: args.backendUUID,
      });
      const previous = this.instances.get(id);
      this.instances.set(id, { backend, channel, storage });
      if (previous !== undefined) await this.close(previous);
      return { err: '' };
    } catch (error) {
      channel?.close();
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
   * grpc-js. A host that cancelled first never sees the reply, and the work is told so.
   */
  private serveRequest(
    call: grpc.ServerUnaryCall<WireHandleRequestArgs, WireHandleRequestReply>,
    callback: grpc.sendUnaryData<WireHandleRequestReply>,
  ): void {
    const after = new AfterResponse();
    this.handleRequest(call, after).then(
      (reply) => {
        // Read before answering: grpc-js marks every call cancelled once its stream has closed,
        // however it closed, so only now does the flag mean the host gave up.
        const delivered = !call.cancelled && reply.err === null;
        callback(null, reply);
        if (after.pending === 0) return;
        setTimeout(() => void after.settle(delivered, this.options.logger), DELIVERY_GRACE_MS);
      },
      (error: unknown) => {
        const detail = this.options.redactor.scrub(errorMessage(error));
        this.options.logger.error('backend call failed', { method: call.getPath(), error: detail });
        callback({ code: grpc.status.INTERNAL, details: detail });
        if (after.pending > 0) void after.settle(false, this.options.logger);
      },
    );
  }

  private async handleRequest(
    call: grpc.ServerUnaryCall<WireHandleRequestArgs, unknown>,
    after: AfterResponse,
  ): Promise<WireHandleRequestReply> {
    const instance = this.instance(call);
    const consistency = new RequestConsistency(call.metadata);
    const wire = call.request.request;
    if (wire === null || wire === undefined) throw new Error('HandleRequest without a request');
    try {
      const request = requestFromWire(wire, instance.storage.forRequest(consistency), {
        // grpc-js keeps the flag itself; an AbortController per request cost more than the request.
        cancelled: () => call.cancelled,
        deadline: deadlineOf(call),
        afterResponse: after.add,
      });
      const response = await instance.backend.handleRequest(request);
      return this.scrubbed({
        response: response === undefined ? null : responseToWire(response),
        err: null,
        walIndex: consistency.walIndex(),
      });
    } catch (error) {
      this.logFailure(wire.operation, wire.path, error);
      const { err, response } = errorToWire(error);
      return this.scrubbed({ response: response ?? null, err, walIndex: consistency.walIndex() });
    }
  }

  /** The last line of defence: no registered secret leaves in an answer, however it got there. */
  private scrubbed(reply: WireHandleRequestReply): WireHandleRequestReply {
    const redactor = this.options.redactor;
    const response = reply.response;
    if (response !== null && response !== undefined) {
      response.data = redactor.scrub(response.data);
      if (response.warnings !== undefined)
        response.warnings = response.warnings.map((warning) => redactor.scrub(warning));
    }
    if (reply.err !== null && reply.err !== undefined)
      reply.err = { ...reply.err, err_msg: redactor.scrub(reply.err.err_msg) };
    return reply;
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
      this.logFailure('existence check', wire.path, error);
      const err = existenceCheckError(error);
      return { check_found: false, exists: false, err: { ...err, err_msg: this.options.redactor.scrub(err.err_msg) } };
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

  private async close(instance: MountInstance): Promise<void> {
    try {
      await instance.backend.cleanup();
    } catch (error) {
      this.options.logger.warn('backend cleanup failed', { error: errorMessage(error) });
    } finally {
      instance.channel.close();
    }
  }

  private logFailure(operation: string, path: string, error: unknown): void {
    if (error instanceof VaultError) {
      this.options.logger.debug('request refused', { operation, path, error: error.message });
    } else {
      this.options.logger.error('request failed', {
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
function existenceCheckError(error: unknown): WireProtoError {
  const wire = errorToWire(error).err;
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
