import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import { PachdRelease } from '../../../plugin/pachyderm/pachd/release';
import { checkSubject, checkSubjectForm, MAX_SUBJECT_LENGTH } from '../../../plugin/pachyderm/roles/subjects';

function refusal(check: () => unknown): VaultError {
  try {
    check();
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
  throw new Error('the subject was accepted, a 400 was expected');
}

function release(version: string): PachdRelease {
  const parsed = PachdRelease.parse(version);
  if (parsed === undefined) throw new Error(`unparsable release ${version}`);
  return parsed;
}

describe('checkSubjectForm', () => {
  it('accepts <prefix>:<name> and trims the ends', () => {
    expect(checkSubjectForm('  user:alice@example.com\t')).toBe('user:alice@example.com');
    expect(checkSubjectForm('robot:ci')).toBe('robot:ci');
    expect(checkSubjectForm('okta:alice@example.com')).toBe('okta:alice@example.com');
    // Only the first colon separates: a user name may hold more.
    expect(checkSubjectForm('user:a:b')).toBe('user:a:b');
  });

  it('refuses an empty subject and one without a prefix', () => {
    for (const subject of ['', '   ', 'alice', ':alice', 'user:', 'us er:alice']) {
      expect(refusal(() => checkSubjectForm(subject)).type).toBe(ErrorType.InvalidRequest);
    }
    expect(refusal(() => checkSubjectForm('')).message).toMatch(/a subject is required/);
    expect(refusal(() => checkSubjectForm('alice')).message).toMatch(/<prefix>:<name>/);
  });

  it('takes subjects up to the limit and not one character more', () => {
    const longest = `user:${'a'.repeat(MAX_SUBJECT_LENGTH - 'user:'.length)}`;
    expect(checkSubjectForm(longest)).toBe(longest);
    expect(refusal(() => checkSubjectForm(`${longest}a`)).message).toContain(`has ${MAX_SUBJECT_LENGTH + 1}`);
  });

  it('refuses whitespace, control and invisible characters inside the subject', () => {
    for (const subject of [
      'user:ali ce',
      'user:ali\u0000ce',
      'user:ali\u200bce',
      'user:\u202eecila',
      'user:ali\u00a0ce',
      'user:ali\u0085ce',
    ]) {
      expect(refusal(() => checkSubjectForm(subject)).message).toMatch(/whitespace, control or invisible/);
    }
  });

  it("refuses pachd's own prefixes whatever their case, and 1.x group prefixes", () => {
    const cases: Array<[string, RegExp]> = [
      ['pach:root', /pachd's internal users/],
      ['PACH:root', /pachd's internal users/],
      ['pipeline:edges', /pipelines/],
      ['internal:auth-server', /background tasks/],
      ['group:admins', /groups/],
      ['Group/okta:admins', /groups/],
    ];
    for (const [subject, reason] of cases) expect(refusal(() => checkSubjectForm(subject)).message).toMatch(reason);
  });

  it('refuses a robot name with a colon, which pachd cannot store', () => {
    expect(refusal(() => checkSubjectForm('robot:a:b')).message).toMatch(/robot names cannot contain colons/);
  });
});

describe('checkSubject', () => {
  it('leaves 1.x prefixes (GitHub, identity providers) to pachd', () => {
    expect(checkSubject('github:alice', 1)).toBe('github:alice');
    expect(checkSubject('okta:alice@example.com', 1)).toBe('okta:alice@example.com');
    // 1.x keeps subjects in etcd keys, without 2.x's column limit.
    const long = `robot:${'r'.repeat(200)}`;
    expect(checkSubject(long, 1, release('1.13.4'))).toBe(long);
  });

  it('issues only user: and robot: subjects on 2.x', () => {
    expect(checkSubject('user:alice', 2)).toBe('user:alice');
    expect(checkSubject('robot:ci', 2)).toBe('robot:ci');
    for (const subject of ['github:alice', 'okta:alice']) {
      expect(refusal(() => checkSubject(subject, 2)).message).toMatch(/only to user: and robot: subjects/);
    }
  });

  it("holds 2.x subjects to pachd's column: 64 characters before 2.5.4, 128 from then on", () => {
    const at = (length: number) => `robot:${'r'.repeat(length - 'robot:'.length)}`;
    expect(checkSubject(at(64), 2, release('2.5.3'))).toBe(at(64));
    expect(refusal(() => checkSubject(at(65), 2, release('2.5.3'))).message).toMatch(
      /before 2\.5\.4 holds subjects of at most 64/,
    );
    expect(checkSubject(at(128), 2, release('2.5.4'))).toBe(at(128));
    expect(refusal(() => checkSubject(at(129), 2, release('2.12.0'))).message).toMatch(
      /at most 128 characters; this one has 129/,
    );
    // An unknown release is held to the later, larger limit.
    expect(checkSubject(at(128), 2)).toBe(at(128));
    expect(refusal(() => checkSubject(at(129), 2)).type).toBe(ErrorType.InvalidRequest);
  });

  it('checks the shared form first', () => {
    expect(refusal(() => checkSubject('pach:root', 1)).message).toMatch(/pachd's internal users/);
    expect(refusal(() => checkSubject(' ', 2)).message).toMatch(/a subject is required/);
  });
});
