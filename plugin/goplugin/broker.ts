/**
 * @file
 * go-plugin's connection broker, plugin side. The host opens `plugin.GRPCBroker/StartStream`
 * right after connecting and keeps it for the life of the process. When the host serves
 * something for us (Vault's storage and system view), it listens on a socket of its own and
 * announces `ConnInfo{service_id, network, address}` on that stream; we dial it, presenting our
 * certificate as a client certificate and trusting only the host's.
 *
 * An announcement may arrive before or after the request that needs it (`Setup` names the id),
 * so announcements wait here by id until someone dials them.
 */

import type * as grpc from '@grpc/grpc-js';
import { MAX_FRAMED_LENGTH } from '../grpc/grpc-framing';
import { Http2UnaryClient, type Http2ClientTls } from '../grpc/http2-unary-client';
import type { Logger } from './logger';
import type { ConnInfo } from './protos';

export interface BrokerTls {
  hostCertificatePem: string;
  certificatePem: string;
  privateKeyPem: string;
}

/** go-plugin's own dialers wait this long for an announcement. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5000;
// Unclaimed announcements are dropped eventually so a misbehaving host cannot grow the map.
const ANNOUNCEMENT_LIFETIME_MS = 60_000;

interface Announcement {
  info: ConnInfo;
  receivedAt: number;
}

type Waiter = (info: ConnInfo) => void;

export class Broker {
  private stream: grpc.ServerDuplexStream<ConnInfo, ConnInfo> | undefined;
  private readonly announcements = new Map<number, Announcement>();
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly tls: Http2ClientTls;

  constructor(
    tls: BrokerTls,
    private readonly logger: Logger,
  ) {
    // go-plugin's certificates are issued for "localhost", whatever address the host listens on.
    this.tls = {
      ca: tls.hostCertificatePem,
      cert: tls.certificatePem,
      key: tls.privateKeyPem,
      servername: 'localhost',
    };
  }

  /** The `plugin.GRPCBroker` service implementation. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      StartStream: (call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>) => this.attach(call),
    };
  }

  private attach(call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>): void {
    this.stream = call;
    call.on('data', (info: ConnInfo) => this.receive(info));
    // The host ends its side when it closes the client; end ours then, never first.
    call.on('end', () => {
      if (this.stream === call) this.stream = undefined;
      call.end();
    });
    call.on('error', (error: Error) => {
      this.logger.debug('broker stream closed', { error: error.message });
    });
  }

  private receive(info: ConnInfo): void {
    if (info.knock?.knock) {
      // Knocks belong to multiplexed brokering, which this server never offers.
      this.logger.debug('ignoring broker knock', { service_id: info.service_id });
      return;
    }
    this.logger.trace('broker announcement', {
      service_id: info.service_id,
      network: info.network,
      address: info.address,
    });
    const waiting = this.waiters.get(info.service_id);
    if (waiting !== undefined && waiting.length > 0) {
      const waiter = waiting.shift();
      if (waiting.length === 0) this.waiters.delete(info.service_id);
      waiter?.(info);
      return;
    }
    this.dropStaleAnnouncements();
    this.announcements.set(info.service_id, { info, receivedAt: Date.now() });
  }

  private dropStaleAnnouncements(): void {
    const oldest = Date.now() - ANNOUNCEMENT_LIFETIME_MS;
    for (const [id, announcement] of this.announcements) {
      if (announcement.receivedAt < oldest) this.announcements.delete(id);
    }
  }

  /** Waits for the host's announcement of `serviceId` and returns a client of it. */
  async dial(serviceId: number, timeoutMs: number = DEFAULT_DIAL_TIMEOUT_MS): Promise<Http2UnaryClient> {
    const info = await this.announcement(serviceId, timeoutMs);
    return this.connect(info);
  }

  private announcement(serviceId: number, timeoutMs: number): Promise<ConnInfo> {
    const ready = this.announcements.get(serviceId);
    if (ready !== undefined) {
      this.announcements.delete(serviceId);
      return Promise.resolve(ready.info);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = (info) => {
        clearTimeout(timer);
        resolve(info);
      };
      const timer = setTimeout(() => {
        const waiting = this.waiters.get(serviceId) ?? [];
        const index = waiting.indexOf(waiter);
        if (index >= 0) waiting.splice(index, 1);
        if (waiting.length === 0) this.waiters.delete(serviceId);
        reject(new Error(`timeout waiting for connection info for broker id ${serviceId}`));
      }, timeoutMs);
      const waiting = this.waiters.get(serviceId) ?? [];
      waiting.push(waiter);
      this.waiters.set(serviceId, waiting);
    });
  }

  private connect(info: ConnInfo): Http2UnaryClient {
    let target: string | { socketPath: string };
    if (info.network === 'unix') target = { socketPath: info.address };
    else if (info.network === 'tcp') target = info.address;
    else throw new Error(`broker announced unsupported network ${JSON.stringify(info.network)}`);
    // Vault sends and accepts messages up to 2 GiB; gRPC's default would stop at 4 MiB.
    return new Http2UnaryClient({ target, tls: this.tls, maxReceiveMessageLength: MAX_FRAMED_LENGTH });
  }

  /** Ends the stream on our side (process shutdown). */
  close(): void {
    this.stream?.end();
    this.stream = undefined;
  }
}
