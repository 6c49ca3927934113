/**
 * @file
 * The one-off certificate a go-plugin server presents under AutoMTLS: its TLS server
 * certificate on the main connection and its client certificate on brokered connections.
 *
 * The host pins exactly this leaf (it travels in the handshake line), checks it for the name
 * `localhost` through the DNS SAN (Go ignores the CN), and, on brokered connections where it is
 * a client certificate, for the clientAuth usage. Node has no X.509 builder and the libraries
 * that have one cost ~60 ms of start-up (measured: load plus first key generation), so this
 * module encodes the single fixed shape itself, following go-plugin's own template: ECDSA P-256,
 * CA:TRUE, keyCertSign, server and client auth, valid from 30 s ago.
 */

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export interface PluginCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** DER bytes of the certificate; the handshake line carries them in unpadded base64. */
  certificateDer: Buffer;
}

const VALIDITY_YEARS = 30;
const BACKDATE_MS = 30_000;

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** `organization` only labels the certificate for whoever inspects it: the host pins the certificate itself. */
export function generatePluginCertificate(organization: string, now: Date = new Date()): PluginCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);

  const name = sequence(
    set(sequence(oid(OID.organization), utf8String(organization))),
    set(sequence(oid(OID.commonName), utf8String('localhost'))),
  );
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbsCertificate = sequence(
    explicit(0, integer(Buffer.from([2]))), // X.509 v3
    integer(serialNumber()),
    signatureAlgorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence(boolean(true))),
        // digitalSignature, keyEncipherment, keyAgreement, keyCertSign: bits 0, 2, 4, 5.
        extension(OID.keyUsage, true, bitString(Buffer.from([0b1010_1100]), 2)),
        extension(OID.extendedKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
        extension(OID.subjectAltName, false, sequence(tlv(0x82, Buffer.from('localhost', 'ascii')))),
      ),
    ),
  );
  const signature = sign('sha256', tbsCertificate, privateKey);
  const certificateDer = sequence(tbsCertificate, signatureAlgorithm, bitString(signature, 0));

  return {
    certificateDer,
    certificatePem: toPem('CERTIFICATE', certificateDer),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** 128 random bits, kept positive and minimal as DER and Go's parser require. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes;
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// --- DER encoding, just the types a certificate needs ---

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function sequence(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function explicit(tagNumber: number, content: Buffer): Buffer {
  return tlv(0xa0 | tagNumber, content);
}

function boolean(value: boolean): Buffer {
  return tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
}

/** A non-negative integer from big-endian magnitude bytes. */
function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(0x02, needsPad ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function bitString(bits: Buffer, unusedBits: number): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bits]));
}

function utf8String(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      chunk.unshift((value & 0x7f) | 0x80);
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), tlv(0x04, value)) : sequence(oid(id), tlv(0x04, value));
}

/** UTCTime until 2049, GeneralizedTime from 2050, as RFC 5280 prescribes. */
function time(date: Date): Buffer {
  const pad = (n: number) => String(n).padStart(2, '0');
  const year = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  return year < 2050
    ? tlv(0x17, Buffer.from(pad(year % 100) + rest, 'ascii'))
    : tlv(0x18, Buffer.from(String(year) + rest, 'ascii'));
}
