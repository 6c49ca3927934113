import path from 'node:path';

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/**
 * Accepts HOST:PORT, [IPv6]:PORT, :PORT (all interfaces, as Go's net.Listen reads it) and
 * unix:///absolute/path or unix:relative/path (2.x pachd accepts unix:// addresses).
 */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const rest = text.startsWith('unix://') ? text.slice('unix://'.length) : text.slice('unix:'.length);
    if (rest === '') throw new Error(`listen address ${JSON.stringify(text)} names no socket path`);
    return { kind: 'unix', path: path.resolve(rest) };
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (match === null) {
    throw new Error(`listen address ${JSON.stringify(text)} is not HOST:PORT or unix:///path`);
  }
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return { kind: 'tcp', host: host === '' ? '0.0.0.0' : host, port };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** What grpc-js's bindAsync wants. */
export function bindTarget(address: ListenAddress): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `${hostForUrl(address.host)}:${address.port}`;
}

/** Where a client should dial: wildcard hosts become loopback. */
export function dialTarget(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix://${address.path}`;
  const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return `${hostForUrl(host)}:${address.port}`;
}

/** The pachctl-style qualified address (grpc://, grpcs://, or the unix:// form kept verbatim). */
export function qualifiedPachdAddress(address: ListenAddress, tls: boolean): string {
  const target = dialTarget(address);
  if (address.kind === 'unix') return target;
  return `${tls ? 'grpcs' : 'grpc'}://${target}`;
}
