import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import type { Entity } from '../../../plugin/sdk/system-view';
import { SubjectTemplate } from '../../../plugin/pachyderm/roles/subject-template';

function refusal(check: () => unknown): VaultError {
  try {
    check();
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
  throw new Error('accepted, a 400 was expected');
}

const alice: Entity = {
  id: 'entity-1',
  name: 'alice',
  metadata: { team: 'data', empty: '' },
  aliases: [
    {
      id: 'a1',
      name: 'alice@example.com',
      mountType: 'oidc',
      mountAccessor: 'auth_oidc_1234',
      metadata: { sub: '42' },
      customMetadata: {},
    },
  ],
  disabled: false,
  namespaceId: 'root',
};

describe('SubjectTemplate.parse', () => {
  it('keeps the template as written, trimmed', () => {
    expect(SubjectTemplate.parse('  user:{{identity.entity.name}} ').source).toBe('user:{{identity.entity.name}}');
  });

  it('refuses templates whose prefix identity data could pick or that pachd would refuse', () => {
    const cases: Array<[string, RegExp]> = [
      ['{{identity.entity.name}}', /must start with a literal prefix/],
      ['{{identity.entity.name}}:x', /must start with a literal prefix/],
      ['user{{identity.entity.name}}', /must start with a literal prefix/],
      ['pach:{{identity.entity.name}}', /pachd's internal users/],
      ['group:{{identity.entity.name}}', /groups/],
    ];
    for (const [template, reason] of cases)
      expect(refusal(() => SubjectTemplate.parse(template)).message).toMatch(reason);
  });

  it('refuses a template without a placeholder, an unclosed one and unknown ones', () => {
    expect(refusal(() => SubjectTemplate.parse('user:alice')).message).toMatch(/no \{\{identity\.\.\.\}\} placeholder/);
    expect(refusal(() => SubjectTemplate.parse('user:{{identity.entity.name')).message).toMatch(/unclosed "\{\{"/);
    for (const expression of [
      'identity.entity.nope',
      'identity.entity.id.extra',
      'identity.entity.metadata',
      'identity.entity.metadata.',
      'identity.entity.aliases.auth_oidc_1234',
      'identity.entity.aliases.auth_oidc_1234.id',
      'identity.entity.aliases..name',
      'identity.entity.aliases.auth oidc.name',
      'entity.name',
      '',
    ]) {
      const error = refusal(() => SubjectTemplate.parse(`user:{{${expression}}}`));
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/unknown placeholder/);
    }
  });
});

describe('SubjectTemplate.render', () => {
  it('fills every kind of placeholder from the entity', () => {
    const render = (template: string) => SubjectTemplate.parse(template).render(alice);
    expect(render('user:{{identity.entity.id}}')).toBe('user:entity-1');
    expect(render('user:{{ identity.entity.name }}')).toBe('user:alice');
    expect(render('user:{{identity.entity.metadata.team}}-{{identity.entity.name}}')).toBe('user:data-alice');
    expect(render('user:{{identity.entity.aliases.auth_oidc_1234.name}}')).toBe('user:alice@example.com');
    expect(render('robot:oidc-{{identity.entity.aliases.auth_oidc_1234.metadata.sub}}')).toBe('robot:oidc-42');
  });

  it('needs an identity entity', () => {
    expect(refusal(() => SubjectTemplate.parse('user:{{identity.entity.name}}').render(undefined)).message).toMatch(
      /no identity entity/,
    );
  });

  it('refuses a placeholder the entity leaves missing or empty, naming it', () => {
    const cases: Array<[string, RegExp]> = [
      ['user:{{identity.entity.metadata.missing}}', /entity metadata "missing" is missing or empty/],
      ['user:{{identity.entity.metadata.empty}}', /entity metadata "empty" is missing or empty/],
      ['user:{{identity.entity.aliases.auth_ldap_9.name}}', /alias on auth mount auth_ldap_9 is missing/],
      ['user:{{identity.entity.aliases.auth_oidc_1234.metadata.nope}}', /metadata "nope" of the entity's alias/],
      // Inherited properties are no metadata.
      ['user:{{identity.entity.metadata.constructor}}', /entity metadata "constructor" is missing/],
      ['user:{{identity.entity.metadata.toString}}', /entity metadata "toString" is missing/],
    ];
    for (const [template, reason] of cases) {
      const error = refusal(() => SubjectTemplate.parse(template).render(alice));
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(reason);
      expect(error.message).toContain('for entity alice');
    }
  });

  it('checks the rendered subject, so identity data cannot smuggle in whitespace or a robot colon', () => {
    const spaced: Entity = { ...alice, name: 'alice smith' };
    expect(refusal(() => SubjectTemplate.parse('user:{{identity.entity.name}}').render(spaced)).message).toMatch(
      /whitespace/,
    );
    const colon: Entity = { ...alice, name: 'a:b' };
    expect(refusal(() => SubjectTemplate.parse('robot:{{identity.entity.name}}').render(colon)).message).toMatch(
      /colons/,
    );
    expect(SubjectTemplate.parse('user:{{identity.entity.name}}').render(colon)).toBe('user:a:b');
  });
});
