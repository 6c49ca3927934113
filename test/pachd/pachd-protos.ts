import authV1Proto from '../../proto/pachyderm/auth-v1.proto';
import authV2Proto from '../../proto/pachyderm/auth-v2.proto';
import versionV1Proto from '../../proto/pachyderm/version-v1.proto';
import versionV2Proto from '../../proto/pachyderm/version-v2.proto';
import { loadProtoFiles } from '../../plugin/grpc/proto-loading';

export const AUTH_V1_SERVICE = 'auth.API';
export const AUTH_V2_SERVICE = 'auth_v2.API';
export const VERSION_V1_SERVICE = 'versionpb.API';
export const VERSION_V2_SERVICE = 'versionpb_v2.API';

export type PachdProtoDefinitions = ReturnType<typeof loadProtoFiles>;

let cached: PachdProtoDefinitions | undefined;

/** Both generations' auth and version protos in one definition set (resolved once per process). */
export function pachdProtoDefinitions(): PachdProtoDefinitions {
  cached ??= loadProtoFiles([authV1Proto, authV2Proto, versionV1Proto, versionV2Proto]);
  return cached;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Number → name of an auth_v2 enum (`Permission`, `ResourceType`), read from the compiled proto
 * so the numbers are written down once, in auth-v2.proto.
 */
export function authV2EnumNames(enumName: string): Map<number, string> {
  const pkg: unknown = authV2Proto.nested['auth_v2'];
  const nested = isRecord(pkg) ? pkg['nested'] : undefined;
  const definition = isRecord(nested) ? nested[enumName] : undefined;
  const values = isRecord(definition) ? definition['values'] : undefined;
  if (!isRecord(values)) throw new Error(`auth_v2.${enumName} is not an enum in auth-v2.proto`);
  const names = new Map<number, string>();
  for (const [name, number] of Object.entries(values)) {
    if (typeof number === 'number') names.set(number, name);
  }
  return names;
}
