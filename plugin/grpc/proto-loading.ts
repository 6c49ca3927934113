import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import * as protobuf from 'protobufjs';

// protobufjs looks `long` up through an eval'd require, which a bundle or a single executable
// cannot satisfy; without it every int64 silently becomes a float and loses precision past 2^53
// (a 200-day TTL in nanoseconds). Hand it over explicitly.
protobuf.util.Long = Long;
protobuf.configure();

/**
 * A .proto file compiled to protobufjs JSON at build time (scripts/proto-compile.cjs): parsing
 * proto text and building descriptors at every start cost more than the rest of start-up.
 */
export interface CompiledProto {
  imports: string[];
  nested: NonNullable<protobuf.INamespace['nested']>;
}

/**
 * How decoded messages look everywhere in this project: field names exactly as in the .proto,
 * int64 as decimal strings (callers turn them into BigInt), enums as numbers, bytes as Buffers,
 * unset scalars, lists and maps as their defaults, unset messages null.
 */
const MESSAGE_SHAPE: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** int64 on the wire: a decimal string when decoded (MESSAGE_SHAPE); a string, number or bigint when encoded. */
export type WireInt64 = string;

/** Services and message types of a set of compiled .proto files, resolved together. */
export class ProtoDefinitions {
  private readonly services = new Map<string, grpc.ServiceDefinition>();

  constructor(private readonly root: protobuf.Root) {}

  /** A gRPC service definition by fully qualified name (`pb.Backend`). */
  service(fullName: string): grpc.ServiceDefinition {
    const cached = this.services.get(fullName);
    if (cached !== undefined) return cached;
    const service = this.root.lookupService(fullName);
    const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const method of service.methodsArray) {
      method.resolve();
      const requestType = method.resolvedRequestType;
      const responseType = method.resolvedResponseType;
      if (requestType === null || responseType === null) {
        throw new Error(`${fullName}.${method.name}: unresolved message types`);
      }
      definition[method.name] = {
        path: `/${fullName}/${method.name}`,
        requestStream: method.requestStream === true,
        responseStream: method.responseStream === true,
        requestSerialize: serializer(requestType),
        requestDeserialize: deserializer(requestType),
        responseSerialize: serializer(responseType),
        responseDeserialize: deserializer(responseType),
        originalName: method.name,
      };
    }
    this.services.set(fullName, definition);
    return definition;
  }

  /** A message type by fully qualified name, for encoding outside gRPC calls. */
  messageType(fullName: string): protobuf.Type {
    return this.root.lookupType(fullName);
  }

  /**
   * A message encoded as gRPC will send it. A server that must know its answer can be sent before
   * it counts the answer as given encodes it first and hands gRPC the bytes, which pass unchanged.
   */
  encode(fullName: string, message: object): EncodedMessage {
    return encodeWith(this.messageType(fullName), message);
  }
}

/** A message already encoded: the service definitions' serializers pass it through as it is. */
export type EncodedMessage = Buffer;

function encodeWith(type: protobuf.Type, message: object): Buffer {
  const bytes = type.encode(type.fromObject(message as Record<string, unknown>)).finish();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializer(type: protobuf.Type): (message: object) => Buffer {
  return (message) => (Buffer.isBuffer(message) ? message : encodeWith(type, message));
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), MESSAGE_SHAPE);
}

/** Combines compiled .proto files (plus the google/protobuf types they import) and resolves them. */
export function loadProtoFiles(files: readonly CompiledProto[]): ProtoDefinitions {
  const root = new protobuf.Root();
  const wellKnown = new Set<string>();
  for (const file of files) {
    for (const imported of file.imports) {
      if (!imported.startsWith('google/protobuf/') || wellKnown.has(imported)) continue;
      const definition = protobuf.common.get(imported);
      if (definition === null) throw new Error(`unknown well-known proto ${imported}`);
      root.addJSON(definition.nested ?? {});
      wellKnown.add(imported);
    }
    root.addJSON(file.nested);
  }
  root.resolveAll();
  return new ProtoDefinitions(root);
}

/** The definition of one service, by its fully qualified name (`pb.Backend`). */
export function serviceDefinition(definitions: ProtoDefinitions, fullName: string): grpc.ServiceDefinition {
  return definitions.service(fullName);
}

/** A client constructor for a service; one per service is enough for a whole process. */
export function clientConstructor(definitions: ProtoDefinitions, fullName: string): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(definitions.service(fullName), fullName);
}
