import authV1Proto from '../../../proto/pachyderm/auth-v1.proto';
import authV2Proto from '../../../proto/pachyderm/auth-v2.proto';
import versionV1Proto from '../../../proto/pachyderm/version-v1.proto';
import versionV2Proto from '../../../proto/pachyderm/version-v2.proto';
import { loadProtoFiles } from '../../grpc/proto-loading';

/**
 * pachd's auth and version APIs of both generations (1.x packages `auth`, `versionpb`; 2.x
 * `auth_v2`, `versionpb_v2`).
 */
export const pachdDefinitions = loadProtoFiles([authV1Proto, authV2Proto, versionV1Proto, versionV2Proto]);

export interface WireVersion {
  major: number;
  minor: number;
  micro: number;
  additional: string;
}
