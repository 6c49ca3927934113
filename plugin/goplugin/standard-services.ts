/**
 * @file
 * The services every go-plugin server offers besides the broker and the application's own:
 * health (go-plugin's Ping asks for service "plugin"), the controller through which the host
 * asks for a graceful exit, and the stdio stream.
 */

import * as grpc from '@grpc/grpc-js';

const SERVING = 1;
// Names a go-plugin host may ask about: the empty name (whole server) and "plugin".
const HEALTHY_SERVICE_NAMES = new Set(['', 'plugin']);

interface HealthCheckRequest {
  service: string;
}

interface HealthCheckResponse {
  status: number;
}

export function healthImplementation(): grpc.UntypedServiceImplementation {
  return {
    Check: (
      call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      callback: grpc.sendUnaryData<HealthCheckResponse>,
    ) => {
      if (HEALTHY_SERVICE_NAMES.has(call.request.service)) {
        callback(null, { status: SERVING });
      } else {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      }
    },
    Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
      if (!HEALTHY_SERVICE_NAMES.has(call.request.service)) {
        call.emit('error', { code: grpc.status.NOT_FOUND, details: 'unknown service' });
        return;
      }
      // The status never changes while the process lives; the stream ends with the call.
      call.write({ status: SERVING });
      call.on('cancelled', () => call.end());
    },
  };
}

/** `plugin.GRPCController`: answer first, then let the process go. */
export function controllerImplementation(onShutdown: () => void): grpc.UntypedServiceImplementation {
  return {
    Shutdown: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      callback(null, {});
      setImmediate(onShutdown);
    },
  };
}

/**
 * `plugin.GRPCStdio`: Vault opens it once and discards whatever arrives, and our own stdout
 * carries nothing after the handshake, so the stream is held open and never written.
 */
export function stdioImplementation(): grpc.UntypedServiceImplementation {
  return {
    StreamStdio: (call: grpc.ServerWritableStream<object, object>) => {
      call.on('cancelled', () => call.end());
    },
  };
}
