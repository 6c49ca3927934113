/**
 * @file
 * A path as a backend declares it, apart from the Backend that routes to it, so that what reads
 * path declarations (routing, help, OpenAPI) depends on them and not on each other; Vault's SDK
 * keeps the same split (framework/path.go).
 */

import type { FieldData, FieldSchemas } from './fields';
import type { Operation, Request, Response } from './logical';

/**
 * The operations a path's handlers take. Backend answers the others itself (renew and revoke
 * through a secret type, rollback, help), as Vault's framework does.
 */
export type RoutedOperation = Extract<Operation, 'create' | 'read' | 'update' | 'delete' | 'list'>;

/** Vault's `framework.OperationFunc`. */
export type OperationFunc = (request: Request, fields: FieldData) => Promise<Response | undefined>;

/** Vault's `framework.PathOperation`: a handler with the words help and OpenAPI show for it. */
export interface PathOperation {
  handler: OperationFunc;
  summary?: string;
  description?: string;
}

/** Vault's `framework.OperationHandler`; a bare function stands for a PathOperation without words. */
export type OperationHandler = OperationFunc | PathOperation;

export interface PathDefinition {
  /**
   * A regular expression in JavaScript syntax matched against the whole request path (anchors
   * are added). Named groups (`(?<name>...)`) become fields, which must be declared with
   * `in: 'path'`.
   */
  pattern: string;
  fields?: FieldSchemas;
  operations: Partial<Record<RoutedOperation, OperationHandler>>;
  /**
   * Decides whether a write is a create or an update: Vault asks before every write and checks
   * the caller's `create` or `update` capability accordingly. A path with one must handle create.
   * It sees only the path's captures: the body is checked by the write that follows, which can
   * answer a bad field with a 400 where a failing existence check could only give a 500.
   */
  existenceCheck?: (request: Request, fields: FieldData) => Promise<boolean>;
  helpSynopsis: string;
  helpDescription?: string;
}
