// A throwaway CA-less server certificate for localhost/127.0.0.1, made with the openssl CLI
// (Node has no certificate generator). The certificate is its own trust anchor in tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TlsFixture {
  certPem: Buffer;
  keyPem: Buffer;
  certFile: string;
  keyFile: string;
  remove(): void;
}

export function makeLocalhostCertificate(): TlsFixture {
  const directory = mkdtempSync(path.join(tmpdir(), 'pachd-standin-tls-'));
  const certFile = path.join(directory, 'cert.pem');
  const keyFile = path.join(directory, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return {
    certPem: readFileSync(certFile),
    keyPem: readFileSync(keyFile),
    certFile,
    keyFile,
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}
