import type { FieldData, FieldSchemas } from './fields';
import type { Request, Response } from './logical';

// A path as a backend declares it, apart from the Backend that routes to it, so that what reads
// path declarations (routing, help, OpenAPI) depends on them and not on each other; Vault's SDK
// keeps the same split (framework/path.go).

/** The operations a path can declare handlers for. */
export type PathOperation = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list';

export type Handler = (request: Request, fields: FieldData) => Promise<Response | undefined>;

export interface OperationDefinition {
  handler: Handler;
  summary?: string;
  description?: string;
}

export interface PathDefinition {
  /**
   * A regular expression in JavaScript syntax matched against the whole request path (anchors
   * are added). Named groups (`(?<name>...)`) become fields, which must be declared.
   */
  pattern: string;
  fields?: FieldSchemas;
  operations: Partial<Record<PathOperation, Handler | OperationDefinition>>;
  /**
   * Decides whether a write is a create or an update: Vault asks before every write and checks
   * the caller's `create` or `update` capability accordingly. A path with one must handle create.
   * It sees only the path's captures: the body is checked by the write that follows, which can
   * answer a bad field with a 400 where a failing existence check could only give a 500.
   */
  existenceCheck?: (request: Request, fields: FieldData) => Promise<boolean>;
  helpSynopsis: string;
  helpDescription?: string;
  /** Words for OpenAPI operation ids: `<prefix>-<verb>-<suffix>`. */
  operationSuffix?: string;
}
