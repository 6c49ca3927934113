/**
 * @file
 * A backend described as data: paths with typed fields and per-operation handlers, secret types
 * with renew and revoke, a periodic hook and WAL rollback. `Backend` routes requests to them and
 * answers `help` (with an OpenAPI document) from the same description.
 */

import type { Nanoseconds } from './duration';
import { internalError, unsupportedOperation, unsupportedPath } from './errors';
import { FieldData, type FieldSchemas } from './fields';
import { pathHelpText, rootHelpText } from './help-text';
import type { Logger } from '../goplugin/logger';
import type { Redactor } from '../goplugin/redactor';
import type { Request, Response, Secret } from './logical';
import { openApiDocument } from './openapi';
import type { Path, RoutedOperation } from './path';
import { pathFieldsOf, refusePathFieldsInData, type PathFields } from './path-fields';
import type { Storage } from './storage';
import { walWritable, type SystemView } from './system-view';
import { deleteWal, getWal, listWal, type WalEntry } from './wal';

export interface RenewResult {
  ttl: Nanoseconds;
  /** Defaults to the lease's current max TTL. */
  maxTtl?: Nanoseconds;
  /** Merged into the lease's internal data (which is otherwise kept as it was). */
  internalData?: Record<string, unknown>;
  warnings?: string[];
}

export interface RevokeResult {
  warnings?: string[];
}

export interface SecretDefinition {
  /** Stored in the lease's internal data under `secret_type` to route renew and revoke. */
  type: string;
  description: string;
  /** Describes the data a lease of this type returns. */
  fields?: FieldSchemas;
  renew?: (request: Request, secret: Secret) => Promise<RenewResult>;
  revoke: (request: Request, secret: Secret) => Promise<RevokeResult | void>;
}

export interface SpecialPaths {
  /** Need a root or sudo-capable token. */
  root: string[];
  /** Reachable without a token. */
  unauthenticated: string[];
  /** Not replicated to other clusters (e.g. the WAL). */
  localStorage: string[];
  /** Encrypted again with the seal where the seal supports it. */
  sealWrapStorage: string[];
  writeForwardedStorage: string[];
}

export interface BackendConfig {
  /** The mount's storage (requests carry their own view of it). */
  storage: Storage;
  system: SystemView;
  logger: Logger;
  /**
   * Register secret values here (a credential the backend holds) to keep them out of every answer
   * and log line. The backend's sensitive fields are named here when it is made.
   */
  redactor: Redactor;
  /** Mount options plus `plugin_name`, `plugin_type`, `plugin_version`. */
  config: Readonly<Record<string, string>>;
  backendUuid: string;
}

export interface BackendDefinition {
  /** Shown by `vault path-help <mount>` and at the top of the OpenAPI document. */
  help: string;
  /** Each made by `definePath`, which checks its handlers against its fields. */
  paths: readonly Path[];
  secrets?: readonly SecretDefinition[];
  specialPaths?: Partial<SpecialPaths>;
  /** Prefix of OpenAPI operation ids, e.g. the plugin's name. */
  operationPrefix: string;
  version: string;
  /** Runs on every rollback tick (Vault sends one per mount each minute). */
  periodic?: (request: Request) => Promise<void>;
  /** Undoes the interrupted work an old WAL entry describes; throw to keep the entry. */
  walRollback?: (request: Request, entry: WalEntry) => Promise<void>;
  /** WAL entries younger than this are work in progress, not leftovers. */
  walRollbackMinAgeMs?: number;
  initialize?: (storage: Storage) => Promise<void>;
  cleanup?: () => Promise<void>;
  /** A storage key changed on another node: drop what is cached for it. */
  invalidate?: (key: string) => void;
}

export const SECRET_TYPE_KEY = 'secret_type';
const DEFAULT_WAL_MIN_AGE_MS = 10 * 60 * 1000;

interface CompiledPath {
  definition: Path;
  regex: RegExp;
  fields: FieldSchemas;
  pathFields: PathFields;
}

export class Backend {
  private readonly paths: CompiledPath[];
  private readonly secrets = new Map<string, SecretDefinition>();
  private readonly logger: Logger;
  private rollbackRunning = false;
  private rootHelp: Response | undefined;

  constructor(
    readonly definition: BackendDefinition,
    readonly config: BackendConfig,
  ) {
    this.logger = config.logger;
    this.paths = definition.paths.map(compilePath);
    for (const secret of definition.secrets ?? []) this.secrets.set(secret.type, secret);
    // A field the backend marks sensitive is secret in its log lines too, under the same name.
    for (const name of sensitiveFieldNames(definition)) config.redactor.addFieldName(name);
  }

  specialPaths(): SpecialPaths {
    const declared = this.definition.specialPaths ?? {};
    return {
      root: declared.root ?? [],
      unauthenticated: declared.unauthenticated ?? [],
      localStorage: declared.localStorage ?? [],
      sealWrapStorage: declared.sealWrapStorage ?? [],
      writeForwardedStorage: declared.writeForwardedStorage ?? [],
    };
  }

  async initialize(storage: Storage): Promise<void> {
    await this.definition.initialize?.(storage);
  }

  async cleanup(): Promise<void> {
    await this.definition.cleanup?.();
  }

  invalidate(key: string): void {
    this.definition.invalidate?.(key);
  }

  async handleRequest(request: Request): Promise<Response | undefined> {
    switch (request.operation) {
      case 'renew':
        return this.renew(request);
      case 'revoke':
        return this.revoke(request);
      case 'rollback':
        await this.rollback(request);
        return undefined;
      case 'help':
        return this.help(request.path);
      default:
        return this.route(request);
    }
  }

  /** `checkFound` is false when the path has no existence check (Vault then treats writes as updates). */
  async existenceCheck(request: Request): Promise<{ checkFound: boolean; exists: boolean }> {
    const { path, captures } = this.match(request.path);
    const check = path.definition.existenceCheck;
    if (check === undefined) return { checkFound: false, exists: false };
    return { checkFound: true, exists: await check(request, new FieldData(path.fields, captures)) };
  }

  private match(requestPath: string): { path: CompiledPath; captures: Record<string, string> } {
    for (const path of this.paths) {
      const match = path.regex.exec(requestPath);
      if (match === null) continue;
      const captures: Record<string, string> = {};
      for (const [name, value] of Object.entries(match.groups ?? {})) {
        if (value !== undefined) captures[name] = value;
      }
      return { path, captures };
    }
    throw unsupportedPath(`unsupported path: ${JSON.stringify(requestPath)}`);
  }

  private async route(request: Request): Promise<Response | undefined> {
    const { path, captures } = this.match(request.path);
    const operation = request.operation as RoutedOperation;
    const declared = path.definition.operations[operation];
    if (declared === undefined) {
      throw unsupportedOperation(`${request.operation} is not supported on ${JSON.stringify(request.path)}`);
    }
    refusePathFieldsInData(path.pathFields, request.data);
    const fields = new FieldData(path.fields, { ...request.data, ...captures });
    const handler = typeof declared === 'function' ? declared : declared.handler;
    const response = await handler(request, fields);
    if (response?.secret !== undefined) this.checkSecretType(response.secret.internalData);
    if (response !== undefined && fields.unknownFields.length > 0) {
      response.warnings = [
        ...(response.warnings ?? []),
        `Endpoint ignored these unrecognized parameters: [${fields.unknownFields.join(' ')}]`,
      ];
    }
    return response;
  }

  private checkSecretType(internalData: Record<string, unknown>): void {
    const type = internalData[SECRET_TYPE_KEY];
    if (typeof type !== 'string' || !this.secrets.has(type)) {
      throw new Error(`response secret has unknown ${SECRET_TYPE_KEY} ${JSON.stringify(type)}`);
    }
  }

  private secretOf(request: Request): { secret: Secret; definition: SecretDefinition } {
    const secret = request.secret;
    if (secret === undefined) throw internalError(`${request.operation} request carries no secret`);
    const type = secret.internalData[SECRET_TYPE_KEY];
    const definition = typeof type === 'string' ? this.secrets.get(type) : undefined;
    if (definition === undefined) {
      throw internalError(`lease has unknown ${SECRET_TYPE_KEY} ${JSON.stringify(type)}`);
    }
    return { secret, definition };
  }

  private async renew(request: Request): Promise<Response> {
    const { secret, definition } = this.secretOf(request);
    if (definition.renew === undefined) {
      throw unsupportedOperation(`leases of type ${definition.type} cannot be renewed`);
    }
    const result = await definition.renew(request, secret);
    // Vault replaces the stored secret with the one answered here, so everything revoke needs
    // must be echoed; starting from the lease's own internal data guarantees that.
    return {
      secret: {
        ttl: result.ttl,
        maxTtl: result.maxTtl ?? secret.leaseOptions.maxTtl,
        renewable: true,
        internalData: { ...secret.internalData, ...(result.internalData ?? {}) },
        issueTime: secret.leaseOptions.issueTime,
      },
      ...(result.warnings !== undefined ? { warnings: result.warnings } : {}),
    };
  }

  private async revoke(request: Request): Promise<Response | undefined> {
    const { secret, definition } = this.secretOf(request);
    const result = await definition.revoke(request, secret);
    return result?.warnings !== undefined && result.warnings.length > 0 ? { warnings: result.warnings } : undefined;
  }

  /**
   * The rollback tick: the periodic hook, then WAL entries old enough to be leftovers. Failures
   * are logged, not returned: Vault would only log them again every minute, without detail.
   */
  private async rollback(request: Request): Promise<void> {
    if (this.rollbackRunning) {
      this.logger.debug('previous rollback still running; skipping this tick');
      return;
    }
    this.rollbackRunning = true;
    try {
      if (this.definition.periodic !== undefined) {
        try {
          await this.definition.periodic(request);
        } catch (error) {
          this.logger.warn('periodic function failed', { error: (error as Error).message });
        }
      }
      await this.rollbackWal(request);
    } finally {
      this.rollbackRunning = false;
    }
  }

  private async rollbackWal(request: Request): Promise<void> {
    const rollbackFn = this.definition.walRollback;
    if (rollbackFn === undefined) return;
    // Vault's own framework rolls back wherever the rollback manager runs, performance secondaries
    // included: the WAL is local storage and issuance there writes entries too. A performance
    // standby cannot write at all; its WAL entries belong to the active node.
    if (!walWritable(await this.config.system.replicationState())) return;
    const immediate = request.data.immediate === true;
    const minAge = this.definition.walRollbackMinAgeMs ?? DEFAULT_WAL_MIN_AGE_MS;
    const now = Date.now();
    for (const id of await listWal(request.storage)) {
      let entry: WalEntry | undefined;
      try {
        entry = await getWal(request.storage, id);
      } catch (error) {
        // One unreadable entry must not stop the others; it stays for an operator to look at.
        this.logger.error('cannot read a WAL entry; skipping it', { wal_id: id, error: (error as Error).message });
        continue;
      }
      if (entry === undefined) continue;
      if (!immediate && now - entry.createdAt < minAge) continue;
      try {
        await rollbackFn(request, entry);
        await deleteWal(request.storage, id);
      } catch (error) {
        this.logger.warn('WAL rollback failed; will retry on a later tick', {
          wal_id: id,
          kind: entry.kind,
          error: (error as Error).message,
        });
      }
    }
  }

  private help(path: string): Response {
    if (path === '') {
      this.rootHelp ??= {
        data: {
          help: rootHelpText(this.definition),
          see_also: [],
          openapi: openApiDocument(this.definition, this.definition.paths, this.specialPaths()),
        },
      };
      return this.rootHelp;
    }
    const compiled = this.paths.find((candidate) => candidate.regex.test(path));
    if (compiled === undefined) throw unsupportedPath(`no help for unsupported path ${JSON.stringify(path)}`);
    const definition = compiled.definition;
    return {
      data: {
        help: pathHelpText(definition, compiled.fields),
        see_also: [],
        openapi: openApiDocument(this.definition, [definition], this.specialPaths()),
      },
    };
  }
}

function compilePath(definition: Path): CompiledPath {
  const regex = new RegExp(`^(?:${definition.pattern})$`);
  const fields: FieldSchemas = definition.fields ?? {};
  const pathFields = pathFieldsOf(definition.pattern, fields);
  if (definition.existenceCheck !== undefined && definition.operations.create === undefined) {
    throw new Error(`path ${definition.pattern}: an existence check needs a create handler`);
  }
  return { definition, regex, fields, pathFields };
}

function sensitiveFieldNames(definition: BackendDefinition): string[] {
  const schemas = [
    ...definition.paths.map((path) => path.fields ?? {}),
    ...(definition.secrets ?? []).map((secret) => secret.fields ?? {}),
  ];
  return schemas.flatMap((fields) =>
    Object.entries(fields)
      .filter(([, field]) => field.sensitive === true)
      .map(([name]) => name),
  );
}

/**
 * A response that makes Vault create a lease of the given secret type. The type tag goes into
 * the internal data, where renew and revoke find it again.
 */
export function leaseResponse(options: {
  secretType: string;
  data: Record<string, unknown>;
  internalData: Record<string, unknown>;
  ttl: Nanoseconds;
  maxTtl: Nanoseconds;
  renewable: boolean;
  warnings?: string[];
}): Response {
  return {
    data: options.data,
    secret: {
      ttl: options.ttl,
      maxTtl: options.maxTtl,
      renewable: options.renewable,
      internalData: { ...options.internalData, [SECRET_TYPE_KEY]: options.secretType },
      issueTime: new Date(),
    },
    ...(options.warnings !== undefined && options.warnings.length > 0 ? { warnings: options.warnings } : {}),
  };
}

/** The answer to a `list`: Vault turns an empty key list into a 404. */
export function listResponse(keys: readonly string[]): Response {
  return { data: { keys: [...keys] } };
}
