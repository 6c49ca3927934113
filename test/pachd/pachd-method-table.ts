import * as grpc from '@grpc/grpc-js';

import { serviceDefinition } from '../../plugin/grpc/proto-loading';
import type { PachdAuthEmulation } from './pachd-emulation';
import {
  AUTH_V1_RPCS,
  AUTH_V1_TOKEN_WRITES,
  AUTH_V2_RPCS,
  AUTH_V2_TOKEN_WRITES,
  type PachdUnaryHandler,
  typedHandler,
} from './pachd-methods';
import type { RegisteredUnaryMethod } from './pachd-grpc-server';
import {
  AUTH_V1_SERVICE,
  AUTH_V2_SERVICE,
  type PachdProtoDefinitions,
  VERSION_V1_SERVICE,
  VERSION_V2_SERVICE,
} from './pachd-protos';
import { PachdStatusError, type UnknownMethodWording, unknownMethodError, unknownServiceError } from './pachd-status';
import type { PachdVersion } from './pachd-version';

const passBytes = (bytes: Buffer): Buffer => bytes;

function failing(error: PachdStatusError): PachdUnaryHandler {
  return () => {
    throw error;
  };
}

/** A method registered only to answer with a fixed error; its messages are never decoded. */
function rawStub(path: string, error: PachdStatusError): RegisteredUnaryMethod {
  return {
    path,
    handler: failing(error),
    serialize: (value) => (Buffer.isBuffer(value) ? value : Buffer.alloc(0)),
    deserialize: passBytes,
    tokenWrite: false,
  };
}

/** Which grpc-go the emulated pachd vendored decides the unknown-method wording. */
function unknownMethodWording(version: PachdVersion): UnknownMethodWording {
  if (version.major >= 2 || version.isAtLeast(1, 9, 1)) return 'method-and-service';
  if (version.isAtLeast(1, 8, 1)) return 'service-only';
  return 'method-only';
}

function versionResponse(version: PachdVersion): object {
  return {
    major: version.major,
    minor: version.minor,
    micro: version.micro,
    additional: version.additional,
  };
}

/**
 * Every path the stand-in answers: the emulated generation's auth and version services, the
 * other generation's service names (answered as grpc-go answers unregistered services), and the
 * other generation's RPC names under this generation's auth service (unknown methods).
 */
export function buildMethodTable(
  definitions: PachdProtoDefinitions,
  emulation: PachdAuthEmulation,
  version: PachdVersion,
): RegisteredUnaryMethod[] {
  const firstGeneration = emulation.generation === 1;
  const authService = firstGeneration ? AUTH_V1_SERVICE : AUTH_V2_SERVICE;
  const versionService = firstGeneration ? VERSION_V1_SERVICE : VERSION_V2_SERVICE;
  const otherAuthService = firstGeneration ? AUTH_V2_SERVICE : AUTH_V1_SERVICE;
  const otherVersionService = firstGeneration ? VERSION_V2_SERVICE : VERSION_V1_SERVICE;
  const realRpcs: readonly string[] = firstGeneration ? AUTH_V1_RPCS : AUTH_V2_RPCS;
  const tokenWrites = firstGeneration ? AUTH_V1_TOKEN_WRITES : AUTH_V2_TOKEN_WRITES;
  const otherRealRpcs: readonly string[] = firstGeneration ? AUTH_V2_RPCS : AUTH_V1_RPCS;
  const wording = unknownMethodWording(version);

  const methods: RegisteredUnaryMethod[] = [];
  const taken = new Set<string>();
  const add = (method: RegisteredUnaryMethod): void => {
    if (taken.has(method.path)) return;
    taken.add(method.path);
    methods.push(method);
  };

  const handlers = emulation.handlers();
  const authDefinition = serviceDefinition(definitions, authService);
  for (const [name, definition] of Object.entries(authDefinition)) {
    let handler = handlers.get(name);
    // Only a handler that can write counts as a write: not a method the release lacks.
    let tokenWrite = handler !== undefined && tokenWrites.has(name);
    if (emulation.isAbsentInRelease(name)) {
      handler = failing(unknownMethodError(authService, name, wording));
      tokenWrite = false;
    }
    handler ??= failing(notImplemented(definition.path));
    add({
      path: definition.path,
      handler,
      serialize: definition.responseSerialize,
      deserialize: definition.requestDeserialize,
      tokenWrite,
    });
  }
  for (const name of realRpcs) {
    const path = `/${authService}/${name}`;
    add(rawStub(path, notImplemented(path)));
  }
  for (const name of otherRealRpcs) {
    add(rawStub(`/${authService}/${name}`, unknownMethodError(authService, name, wording)));
  }

  const versionDefinition = serviceDefinition(definitions, versionService);
  for (const definition of Object.values(versionDefinition)) {
    add({
      path: definition.path,
      handler: typedHandler(() => versionResponse(version)),
      serialize: definition.responseSerialize,
      deserialize: definition.requestDeserialize,
      tokenWrite: false,
    });
  }

  for (const name of otherRealRpcs) {
    add(rawStub(`/${otherAuthService}/${name}`, unknownServiceError(otherAuthService)));
  }
  add(rawStub(`/${otherVersionService}/GetVersion`, unknownServiceError(otherVersionService)));
  return methods;
}

function notImplemented(path: string): PachdStatusError {
  return new PachdStatusError(
    grpc.status.UNIMPLEMENTED,
    `the pachd stand-in does not implement ${path} (real pachd does)`,
  );
}
