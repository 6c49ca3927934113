import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import Long from 'long';
import * as protobuf from 'protobufjs';

// protobufjs looks `long` up through an eval'd require, which a bundle or a single executable
// cannot satisfy; without it every int64 silently becomes a float and loses precision past 2^53
// (a 200-day TTL in nanoseconds). Hand it over explicitly.
protobuf.util.Long = Long;
protobuf.configure();

/** A .proto file's import path (relative to proto/) and its text. */
export interface ProtoFile {
  name: string;
  source: string;
}

/**
 * How decoded messages look everywhere in this project: field names exactly as in the .proto,
 * int64 as decimal strings (callers turn them into BigInt), enums as numbers, unset scalars as
 * their defaults, unset messages absent.
 */
export const MESSAGE_SHAPE: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
};

/** Parses .proto sources (already in memory, so bundles need no files) into gRPC definitions. */
export function loadProtoFiles(files: readonly ProtoFile[]): protoLoader.PackageDefinition {
  const root = new protobuf.Root();
  const wellKnown = new Set<string>();
  for (const file of files) {
    const parsed = protobuf.parse(file.source, root, { keepCase: true });
    for (const imported of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      if (imported.startsWith('google/protobuf/') && !wellKnown.has(imported)) {
        const definition = protobuf.common.get(imported);
        if (definition === null) throw new Error(`unknown well-known proto ${imported}`);
        root.addJSON(definition.nested ?? {});
        wellKnown.add(imported);
      }
    }
  }
  root.resolveAll();
  return protoLoader.fromJSON(root.toJSON(), MESSAGE_SHAPE);
}

/** The definition of one service, by its fully qualified name (`pb.Backend`). */
export function serviceDefinition(
  definitions: protoLoader.PackageDefinition,
  fullName: string,
): grpc.ServiceDefinition {
  const entry = definitions[fullName];
  if (entry === undefined || !isServiceDefinition(entry)) {
    throw new Error(`proto service ${fullName} is not defined`);
  }
  return entry as unknown as grpc.ServiceDefinition;
}

function isServiceDefinition(
  entry: protoLoader.AnyDefinition,
): entry is protoLoader.ServiceDefinition {
  return !('format' in entry);
}

/** A client constructor for a service; one per service is enough for a whole process. */
export function clientConstructor(
  definitions: protoLoader.PackageDefinition,
  fullName: string,
): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(serviceDefinition(definitions, fullName), fullName);
}
