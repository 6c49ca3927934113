import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import { DEFAULT_ROBOT_NAME_TEMPLATE, RobotNameTemplate } from '../../../plugin/pachyderm/roles/robot-name-template';

function refusal(source: string): string {
  try {
    RobotNameTemplate.parse(source);
  } catch (error) {
    if (error instanceof VaultError && error.type === ErrorType.InvalidRequest) return error.message;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(source)} to be refused`);
}

describe('robot name templates', () => {
  const at = new Date('2026-11-30T12:00:00.123Z');

  it('makes a fresh name per render from the default template', () => {
    const template = RobotNameTemplate.parse(DEFAULT_ROBOT_NAME_TEMPLATE);
    const names = new Set(
      Array.from({ length: 1000 }, () => template.render({ roleName: 'ci', displayName: 'token' }, at)),
    );
    expect(names.size).toBe(1000);
    for (const name of names) expect(name).toMatch(/^vault-ci-1796040000-[a-z0-9]{8}$/);
  });

  it('fills values and applies functions as Vault username templates do', () => {
    const template = RobotNameTemplate.parse(
      'v.{{.DisplayName | truncate 6 | uppercase}}_{{ .RoleName | lowercase }}-{{unix_time_millis}}-{{random 10}}',
    );
    expect(template.render({ roleName: 'CI-Writer', displayName: 'oidc-alice@example.com' }, at)).toMatch(
      /^v\.OIDC-A_ci-writer-1796040000123-[a-z0-9]{10}$/,
    );
  });

  it('keeps identity data from putting a colon, a space or anything invisible in a name', () => {
    const template = RobotNameTemplate.parse('{{.DisplayName}}-{{random 8}}');
    const name = template.render({ roleName: 'ci', displayName: 'robot:evil name\u200b\n' }, at);
    expect(name).toMatch(/^robot-evil-name---[a-z0-9]{8}$/);
  });

  it('truncates by characters, never splitting a surrogate pair', () => {
    const template = RobotNameTemplate.parse('{{.RoleName | truncate 3}}-{{random 8}}');
    expect(template.render({ roleName: 'abcdef', displayName: '' }, at)).toMatch(/^abc-/);
  });

  it.each([
    ['vault-{{.RoleName}}', 'must hold {{random N}}'],
    ['vault-{{random 7}}', 'at least 8'],
    ['vault-{{random 12 | truncate 4}}', 'untruncated'],
    ['vault-{{random 8', 'unclosed'],
    ['vault:{{random 8}}', 'may hold only'],
    ['vault {{random 8}}', 'may hold only'],
    ['{{.Secret}}-{{random 8}}', 'is not one of'],
    ['{{random}}-{{random 8}}', 'whole number'],
    ['{{random 99999}}', 'whole number'],
    ['{{random 8 | sha256}}', 'is not truncate N'],
    ['{{.RoleName extra}}-{{random 8}}', 'is not one of'],
    ['x'.repeat(300), 'at most 256'],
  ])('refuses %j with a 400', (source, expected) => {
    expect(refusal(source)).toContain(expected);
  });
});
