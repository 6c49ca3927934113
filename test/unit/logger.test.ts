import { createLogger, hclogTimestamp } from '../../plugin/goplugin/logger';
import { Redactor } from '../../plugin/goplugin/redactor';

function capture() {
  const lines: string[] = [];
  const redactor = new Redactor();
  const logger = createLogger({
    module: 'pachyderm',
    level: 'trace',
    redactFields: ['admin_token', 'user_token'],
    write: (line) => lines.push(line),
    redactor,
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, parsed, redactor };
}

describe('hclog-shaped logger', () => {
  it('writes one JSON object per line with string @level, @message, @timestamp, @module', () => {
    const { logger, lines, parsed } = capture();
    logger.warn('something odd', { count: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    const [entry] = parsed();
    expect(entry).toMatchObject({ '@level': 'warn', '@message': 'something odd', '@module': 'pachyderm', count: 3 });
    expect(entry?.['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('uses exactly the level names hclog accepts', () => {
    const { logger, parsed } = capture();
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(parsed().map((entry) => entry['@level'])).toEqual(['trace', 'debug', 'info', 'warn', 'error']);
  });

  it('names sub-modules without repeating @module', () => {
    const { logger, lines, parsed } = capture();
    logger.named('pachd').named('pool').with({ address: 'x' }).info('hello');
    expect(parsed()[0]).toMatchObject({ '@module': 'pachyderm.pachd.pool', address: 'x' });
    expect(lines[0]?.match(/"@module"/g)).toHaveLength(1);
  });

  it('filters by level', () => {
    const lines: string[] = [];
    const logger = createLogger({ module: 'm', level: 'warn', write: (line) => lines.push(line) });
    logger.info('dropped');
    logger.error('kept');
    expect(lines).toHaveLength(1);
    expect(logger.isLevelEnabled('debug')).toBe(false);
  });

  it('redacts secret fields at the top level and one level down', () => {
    const { logger, lines } = capture();
    logger.info('config written', { admin_token: 'adm-abc-123456', config: { admin_token: 'adm-def-654321' } });
    logger.info('token minted', { user_token: 'usr-123-456789', subject: 'robot:ci' });
    const text = lines.join('');
    expect(text).not.toContain('adm-abc-123456');
    expect(text).not.toContain('adm-def-654321');
    expect(text).not.toContain('usr-123-456789');
    expect(text).toContain('[REDACTED]');
    expect(text).toContain('robot:ci');
  });

  it('redacts the fields its redactor names, even those named after the logger was made', () => {
    const lines: string[] = [];
    const redactor = new Redactor();
    const logger = createLogger({ module: 'm', level: 'trace', write: (line) => lines.push(line), redactor });
    redactor.addFieldName('api_key');
    logger
      .named('child')
      .info('configured', { api_key: 'k-123-456789', nested: { api_key: 'k-987-654321' }, region: 'eu' });
    const text = lines.join('');
    expect(text).not.toContain('k-123-456789');
    expect(text).not.toContain('k-987-654321');
    expect(text).toContain('eu');
  });

  it('scrubs registered secret values wherever they appear', () => {
    const { logger, lines, redactor } = capture();
    const secret = 'f00dfeedcafe1234deadbeef';
    const release = redactor.hold(secret);
    logger.error(`pachd said: bad token ${secret}`, { detail: `x${secret}y` });
    release();
    logger.error(`after removal ${secret}`);
    expect(lines[0]).not.toContain(secret);
    expect(lines[1]).toContain(secret);
  });

  it('stays one JSON object per line whatever a held secret looks like, and scrubs it from every text', () => {
    const { logger, lines, redactor } = capture();
    const hostile = ['"@message":"', '{"user_token":"', '","@level":"error', '\\u0000\\"}', '.*+?()[]{}|^$\\'];
    for (const value of hostile) redactor.hold(value);
    for (const value of hostile) {
      logger.info(`pachd said ${value} twice: ${value}`, { detail: `x${value}y`, nested: { list: [value] } });
    }
    expect(lines).toHaveLength(hostile.length);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry['@level']).toBe('info');
      expect(String(entry['@message'])).toMatch(/^pachd said \[REDACTED\] twice: \[REDACTED\]$/);
      expect(entry.detail).toBe('x[REDACTED]y');
      expect(entry.nested).toEqual({ list: ['[REDACTED]'] });
    }
  });

  it("scrubs with the redactors of its own lineage only: one mount's secret leaves another's lines alone", () => {
    const lines: string[] = [];
    const root = createLogger({ module: 'plugin', level: 'trace', write: (line) => lines.push(line) });
    const mountA = new Redactor();
    const mountB = new Redactor();
    const loggerA = root.redacting(mountA).named('a');
    const loggerB = root.redacting(mountB).named('b');
    mountB.hold('pachd_address');
    mountB.addFieldName('subject');
    loggerA.info('issued', { pachd_address: 'grpc://pachd:30650', subject: 'robot:ci' });
    loggerB.info('issued', { pachd_address: 'grpc://pachd:30650', subject: 'robot:ci', note: 'pachd_address' });
    const [a, b] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(a).toMatchObject({ pachd_address: 'grpc://pachd:30650', subject: 'robot:ci', '@module': 'plugin.a' });
    expect(b).toMatchObject({ subject: '[REDACTED]', note: '[REDACTED]', '@module': 'plugin.b' });
  });

  it('lets go of a value once its last holder does', () => {
    const redactor = new Redactor();
    const first = redactor.hold('shared-admin-token');
    const second = redactor.hold('shared-admin-token');
    redactor.hold('short');
    expect(redactor.size).toBe(1);
    first();
    first();
    expect(redactor.scrub('shared-admin-token')).toBe('[REDACTED]');
    second();
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('shared-admin-token')).toBe('shared-admin-token');
  });

  it('formats timestamps with six fractional digits', () => {
    expect(hclogTimestamp(Date.UTC(2025, 0, 2, 3, 4, 5, 123) * 1000 + 456)).toBe('2025-01-02T03:04:05.123456Z');
    expect(hclogTimestamp(Date.UTC(2025, 0, 2, 3, 4, 5, 0) * 1000 + 7)).toBe('2025-01-02T03:04:05.000007Z');
  });
});
