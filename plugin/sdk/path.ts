/**
 * @file
 * A path as a backend declares it, apart from the Backend that routes to it, so that what reads
 * path declarations (routing, help, OpenAPI) depends on them and not on each other; Vault's SDK
 * keeps the same split (framework/path.go).
 */

import type { FieldData, FieldSchema, FieldSchemas } from './fields';
import type { Operation, Request, Response } from './logical';

/**
 * The operations a path's handlers take. Backend answers the others itself (renew and revoke
 * through a secret type, rollback, help), as Vault's framework does.
 */
export type RoutedOperation = Extract<Operation, 'create' | 'read' | 'update' | 'delete' | 'list'>;

/** The names a path's `fields` declares: all its handlers may read. */
export type FieldNames<F extends FieldSchemas> = keyof F & string;

/** Vault's `framework.OperationFunc`; it may read the fields named `Name`. */
export type OperationFunc<Name extends string = string> = (
  request: Request,
  fields: FieldData<Name>,
) => Promise<Response | undefined>;

/** Vault's `framework.PathOperation`: a handler with the words help and OpenAPI show for it. */
export interface PathOperation<Name extends string = string> {
  handler: OperationFunc<Name>;
  summary?: string;
  description?: string;
}

/** Vault's `framework.OperationHandler`; a bare function stands for a PathOperation without words. */
export type OperationHandler<Name extends string = string> = OperationFunc<Name> | PathOperation<Name>;

/** Vault's `framework.ExistenceFunc`. */
export type ExistenceFunc<Name extends string = string> = (
  request: Request,
  fields: FieldData<Name>,
) => Promise<boolean>;

/**
 * What a backend writes to declare a path. `F` is its fields, so that each handler's FieldData
 * reads only those; write it through `definePath`, which infers `F`.
 */
export interface PathDefinition<F extends FieldSchemas = FieldSchemas> {
  /**
   * A regular expression in JavaScript syntax matched against the whole request path (anchors
   * are added). Named groups (`(?<name>...)`) become fields, which must be declared with
   * `in: 'path'`.
   */
  pattern: string;
  fields?: F;
  operations: Partial<Record<RoutedOperation, OperationHandler<FieldNames<F>>>>;
  /**
   * Decides whether a write is a create or an update: Vault asks before every write and checks
   * the caller's `create` or `update` capability accordingly. A path with one must handle create.
   * It sees only the path's captures: the body is checked by the write that follows, which can
   * answer a bad field with a 400 where a failing existence check could only give a 500.
   */
  existenceCheck?: ExistenceFunc<FieldNames<F>>;
  helpSynopsis: string;
  helpDescription?: string;
}

/**
 * `F` itself when the compiler knows its names. Fields typed as plain FieldSchemas (say a constant
 * annotated so) name every string, which would let handlers read any name: they are refused.
 */
type NamedFields<F extends FieldSchemas> = string extends keyof F ? never : F;

const DEFINED = Symbol('defined by definePath');

/**
 * Vault's `framework.Path`: a path definition whose handlers were type-checked against its own
 * fields. Only `definePath` makes one, so a backend cannot be given a path whose handlers were
 * typed to read any name at all.
 */
export type Path = PathDefinition & { readonly [DEFINED]: true };

/**
 * Checks a path's handlers against its fields: `fields.string('x')` compiles only where the path
 * declares `x`. A path without fields gets handlers that can read none.
 */
export function definePath<const F extends FieldSchemas = Readonly<Record<never, FieldSchema>>>(
  definition: PathDefinition<F> & { fields?: NamedFields<F> },
): Path {
  return { ...definition, [DEFINED]: true };
}
