/**
 * pachd addresses as pachctl reads them: `host:port`, `grpc://`, `grpcs://`, `http://`,
 * `https://` and (2.x) `unix://`. The scheme says whether to use TLS; the port defaults to
 * 30650 whatever the scheme (so `http://host` is not port 80).
 */
export const DEFAULT_PACHD_PORT = 30650;

export interface PachdAddress {
  /** What operators see: `grpc://host:port`, `grpcs://host:port` or `unix:///path`. */
  canonical: string;
  /** What the gRPC client dials. */
  target: string;
  tls: boolean;
  /** The TLS server name (the host); empty for unix sockets. */
  host: string;
}

export class AddressError extends Error {}

const SCHEMES: Readonly<Record<string, { tls: boolean; canonical: 'grpc' | 'grpcs' }>> = {
  grpc: { tls: false, canonical: 'grpc' },
  http: { tls: false, canonical: 'grpc' },
  grpcs: { tls: true, canonical: 'grpcs' },
  https: { tls: true, canonical: 'grpcs' },
};

export function parsePachdAddress(input: string): PachdAddress {
  const text = input.trim();
  if (text === '') throw new AddressError('no pachd address specified');
  const withScheme = text.includes('://') ? text : `grpc://${text}`;
  const scheme = withScheme.slice(0, withScheme.indexOf('://')).toLowerCase();

  if (scheme === 'unix') {
    const socketPath = withScheme.slice('unix://'.length);
    if (!socketPath.startsWith('/')) {
      throw new AddressError(
        `unix pachd address needs an absolute socket path (unix:///path/to/socket), got ${JSON.stringify(input)}`,
      );
    }
    return { canonical: `unix://${socketPath}`, target: `unix://${socketPath}`, tls: false, host: '' };
  }

  const known = Object.hasOwn(SCHEMES, scheme) ? SCHEMES[scheme] : undefined;
  if (known === undefined) throw new AddressError(`unrecognized scheme in pachd address: ${scheme}`);

  const afterAuthority = withScheme.slice(withScheme.indexOf('://') + 3);
  // Read the port from the text: URL rejects some bad ports with a vague error and drops a
  // port equal to its scheme's default (80 for http).
  const portText = /:(\d*)$/.exec(afterAuthority.replace(/^\[[^\]]*\]/, '').replace(/[/?#].*$/, ''))?.[1];
  if (portText === '') throw new AddressError(`could not parse port in address: ${JSON.stringify(input)}`);
  const port = portText === undefined ? DEFAULT_PACHD_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddressError(`could not parse port in address: ${JSON.stringify(input)}`);
  }

  let url: URL;
  try {
    url = new URL(`http://${afterAuthority.replace(/:\d*(?=$|[/?#])/, '')}`);
  } catch {
    throw new AddressError(`cannot parse pachd address ${JSON.stringify(input)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new AddressError('pachd address should not include login credentials');
  }
  if (url.search !== '' || withScheme.includes('?'))
    throw new AddressError('pachd address should not include a query string');
  if (url.hash !== '' || withScheme.includes('#'))
    throw new AddressError('pachd address should not include a fragment');
  if (afterAuthority.includes('/')) throw new AddressError('pachd address should not include a path');
  if (url.hostname === '') throw new AddressError(`pachd address ${JSON.stringify(input)} has no host`);

  const host = url.hostname;
  const hostPort = `${host}:${port}`;
  return {
    canonical: `${known.canonical}://${hostPort}`,
    target: hostPort,
    tls: known.tls,
    host: host.replace(/^\[|\]$/g, ''),
  };
}
