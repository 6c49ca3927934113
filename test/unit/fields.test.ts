import { FieldData, type FieldSchemas } from '../../plugin/sdk/fields';
import { VaultError, ErrorType } from '../../plugin/sdk/errors';

const schemas: FieldSchemas = {
  name: { type: 'string', description: 'n', required: true },
  count: { type: 'int', description: 'c', default: 7 },
  enabled: { type: 'bool', description: 'e' },
  ttl: { type: 'duration', description: 't', default: '1h' },
  tags: { type: 'comma-string-list', description: 'g' },
  labels: { type: 'kv-pairs', description: 'l' },
  color: { type: 'string', description: 'c', allowedValues: ['red', 'blue'] },
};

function badRequestOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).type).toBe(ErrorType.InvalidRequest);
    return (error as Error).message;
  }
  throw new Error('expected a bad request');
}

describe('field data', () => {
  it('parses every type from its JSON and its string spelling', () => {
    const fields = new FieldData(schemas, {
      name: 'x',
      count: '42',
      enabled: 'true',
      ttl: '1h30m',
      tags: 'a,b, c,,',
      labels: ['x=y', 'z=w'],
      color: 'red',
    });
    expect(fields.string('name')).toBe('x');
    expect(fields.int('count')).toBe(42);
    expect(fields.bool('enabled')).toBe(true);
    expect(fields.duration('ttl')).toBe(5400n * 1_000_000_000n);
    expect(fields.stringList('tags')).toEqual(['a', 'b', 'c']);
    expect(fields.stringMap('labels')).toEqual({ x: 'y', z: 'w' });
    expect(fields.string('color')).toBe('red');
  });

  it('applies defaults without counting them as given', () => {
    const fields = new FieldData(schemas, { name: 'x' });
    expect(fields.int('count')).toBe(7);
    expect(fields.has('count')).toBe(false);
    expect(fields.duration('ttl')).toBe(3600n * 1_000_000_000n);
    expect(fields.bool('enabled')).toBe(false);
    expect(fields.stringList('tags')).toEqual([]);
    expect(fields.optionalString('color')).toBeUndefined();
  });

  it('names each bad field in one 400', () => {
    const message = badRequestOf(
      () => new FieldData(schemas, { name: 'x', count: 'abc', ttl: 'soon', color: 'green' }),
    );
    expect(message).toContain('field "count": expected an integer, got "abc"');
    expect(message).toContain('field "ttl"');
    expect(message).toContain('"green" is not one of "red", "blue"');
  });

  it('requires required fields and rejects negative durations', () => {
    expect(badRequestOf(() => new FieldData(schemas, {}))).toContain('missing required field "name"');
    expect(badRequestOf(() => new FieldData(schemas, { name: 'x', ttl: '-1h' }))).toContain('not negative');
  });

  it('reports unknown fields instead of failing', () => {
    const fields = new FieldData(schemas, { name: 'x', zeta: 1, alpha: 2 });
    expect(fields.unknownFields).toEqual(['alpha', 'zeta']);
  });

  it('does not confuse a map value with anything else', () => {
    const fields = new FieldData(schemas, { name: 'x', labels: { ok: 'true', problem: 'none' } });
    expect(fields.stringMap('labels')).toEqual({ ok: 'true', problem: 'none' });
  });

  it('treats reading an undeclared or differently typed field as a programming error', () => {
    const fields = new FieldData(schemas, { name: 'x' });
    expect(() => fields.string('nope')).toThrow(/not declared/);
    expect(() => fields.int('name')).toThrow(/declared as string/);
  });

  it('never takes a body key for a schema it inherited (constructor, toString, __proto__)', () => {
    const raw = JSON.parse(
      '{"constructor": 1, "toString": "x", "__proto__": {"a": 1}, "hasOwnProperty": [], "name": "ok"}',
    ) as Record<string, unknown>;
    const fields = new FieldData(schemas, raw);
    expect(fields.string('name')).toBe('ok');
    expect([...fields.unknownFields].sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
  });

  it('never repeats the value of a sensitive field, and repeats at most a line of any other', () => {
    const secretSchemas: FieldSchemas = {
      token: { type: 'string', description: 't', sensitive: true, allowedValues: ['only'] },
      note: { type: 'int', description: 'n' },
    };
    const secret = 'f00dfeedcafe1234deadbeef';
    expect(badRequestOf(() => new FieldData(secretSchemas, { token: { inner: secret } }))).not.toContain(secret);
    expect(badRequestOf(() => new FieldData(secretSchemas, { token: secret }))).not.toContain(secret);
    const long = 'x'.repeat(1 << 20);
    const message = badRequestOf(() => new FieldData(secretSchemas, { note: long }));
    expect(message.length).toBeLessThan(300);
    expect(message).toContain(`${(long.length + 2).toString()} characters`);
  });

  it('refuses strings and list items longer than the field allows', () => {
    const bounded: FieldSchemas = {
      name: { type: 'string', description: 'n', maxLength: 8 },
      tags: { type: 'comma-string-list', description: 'g', maxLength: 3 },
    };
    expect(new FieldData(bounded, { name: '12345678', tags: 'abc,de' }).string('name')).toBe('12345678');
    expect(badRequestOf(() => new FieldData(bounded, { name: '123456789' }))).toMatch(
      /field "name": longer than 8 characters \(9\)/,
    );
    expect(badRequestOf(() => new FieldData(bounded, { tags: ['ab', 'abcd'] }))).toMatch(/field "tags": longer than 3/);
  });

  it('answers an oversized duration with a 400, not an exception', () => {
    const digits = '9'.repeat(400);
    for (const value of [digits, `${digits}.5`, `${digits}h`, 1e308, '2562048h', '9223372037s']) {
      expect(badRequestOf(() => new FieldData(schemas, { ttl: value }))).toMatch(/field "ttl": expected a duration/);
    }
  });
});
