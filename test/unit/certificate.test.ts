import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { generatePluginCertificate } from '../../plugin/goplugin/certificate';

describe('plugin certificate', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const certificate = generatePluginCertificate('test organisation', now);
  const parsed = new X509Certificate(certificate.certificatePem);

  it('is a self-signed CA for localhost, as the host pins and checks it', () => {
    expect(parsed.ca).toBe(true);
    expect(parsed.subjectAltName).toBe('DNS:localhost');
    expect(parsed.checkHost('localhost')).toBe('localhost');
    expect(parsed.subject).toContain('CN=localhost');
    expect(parsed.verify(parsed.publicKey)).toBe(true);
    expect(parsed.checkIssued(parsed)).toBe(true);
  });

  it('names the organisation it was given', () => {
    expect(parsed.subject).toContain('O=test organisation');
  });

  it('allows server and client authentication', () => {
    expect(parsed.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  });

  it('is valid from 30 seconds before now for 30 years', () => {
    expect(new Date(parsed.validFrom).getTime()).toBe(now.getTime() - 30_000);
    expect(new Date(parsed.validTo).getUTCFullYear()).toBe(2056);
  });

  it('has a positive serial and a matching key pair', () => {
    expect(parsed.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    const fromKey = createPublicKey(createPrivateKey(certificate.privateKeyPem)).export({
      type: 'spki',
      format: 'der',
    });
    expect(Buffer.compare(fromKey, parsed.publicKey.export({ type: 'spki', format: 'der' }))).toBe(0);
    expect(Buffer.compare(certificate.certificateDer, parsed.raw)).toBe(0);
  });

  it('is different each time', () => {
    expect(generatePluginCertificate('o').certificatePem).not.toBe(generatePluginCertificate('o').certificatePem);
  });
});
