/**
 * @file
 * Copies of the CA certificates pachd was dialled with, kept under `tls-ca/<sha256 of the PEM>`,
 * so that a lease, a journal entry or a retired admin token can still reach the pachd it lives at
 * after the configuration moved to another pachd, changed its CA, or was deleted. They are
 * public certificates, not secrets, and are never deleted: a lease may name one for as long as
 * Vault keeps the lease.
 */

import { createHash } from 'node:crypto';
import type { Storage } from '../../sdk/storage';

export const TLS_CA_PREFIX = 'tls-ca/';

/** How a home names its CA certificates: the SHA-256 of their PEM text, in hex. */
export function tlsCaReference(pem: string): string {
  return createHash('sha256').update(pem, 'utf8').digest('hex');
}

export class TlsCaStore {
  /** Copies known to be stored, by reference. Content-addressed, so never stale. */
  private readonly known = new Map<string, string>();
  /** The configured PEM and its reference: every issuance and revocation asks for it. */
  private last: { pem: string; reference: string } | undefined;

  /** The reference of `pem` ("" for the system roots), hashed once per configured bundle. */
  referenceOf(pem: string): string {
    if (pem === '') return '';
    if (this.last?.pem !== pem) this.last = { pem, reference: tlsCaReference(pem) };
    return this.last.reference;
  }

  /** Stores `pem` unless it is already, and returns its reference; undefined for the system roots. */
  async keep(storage: Storage, pem: string): Promise<string | undefined> {
    if (pem === '') return undefined;
    const reference = this.referenceOf(pem);
    if (this.known.has(reference)) return reference;
    const key = TLS_CA_PREFIX + reference;
    if ((await storage.get(key)) === undefined) await storage.put({ key, value: Buffer.from(pem, 'utf8') });
    this.known.set(reference, pem);
    return reference;
  }

  /** The CA certificates a reference names, or undefined when no copy is stored. */
  async fetch(storage: Storage, reference: string): Promise<string | undefined> {
    const known = this.known.get(reference);
    if (known !== undefined) return known;
    const entry = await storage.get(TLS_CA_PREFIX + reference);
    if (entry === undefined) return undefined;
    const pem = entry.value.toString('utf8');
    // A copy that does not match its name is not what the token's pachd was dialled with.
    if (tlsCaReference(pem) !== reference) return undefined;
    this.known.set(reference, pem);
    return pem;
  }
}
