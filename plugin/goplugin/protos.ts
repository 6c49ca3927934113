import goPluginProto from '../../proto/goplugin/go-plugin.proto';
import healthProto from '../../proto/goplugin/health.proto';
import { loadProtoFiles } from '../grpc/proto-loading';

export const goPluginDefinitions = loadProtoFiles([goPluginProto, healthProto]);

/** `plugin.ConnInfo` as decoded (field names as in the proto). */
export interface ConnInfo {
  service_id: number;
  network: string;
  address: string;
  knock?: { knock: boolean; ack: boolean; error: string } | null;
}
