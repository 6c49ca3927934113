import { badRequest } from '../../sdk/errors';
import type { PachdGeneration } from '../pachd/auth-api';
import type { PachdRelease } from '../pachd/release';

/**
 * Which pachd subjects this engine issues tokens for. A subject is `<prefix>:<name>`:
 * `user:alice@example.com`, `robot:ci`; on 1.x also `github:alice` and IdP-named prefixes such
 * as `okta:alice@example.com`, whose validity only pachd can judge.
 */

/** Prefixes that name pachd's own principals or groups, never a token holder. */
const RESERVED_PREFIXES: Readonly<Record<string, string>> = {
  pach: "pach: subjects are pachd's internal users (such as pach:root) and cannot be issued tokens",
  pipeline: "pipeline: subjects belong to Pachyderm's own pipelines and cannot be issued tokens",
  internal: "internal: subjects belong to pachd's background tasks and cannot be issued tokens",
  group: 'group: subjects name groups, which cannot hold tokens',
};

/** On 2.x only users (installed with RestoreAuthToken) and robots (GetRobotToken) can be minted. */
const V2_PREFIXES = ['user', 'robot'];

const SUBJECT_SHAPE = /^([A-Za-z0-9_./-]+):(.+)$/;
/** Longer than any subject pachd holds (an e-mail address is at most 254 characters). */
export const MAX_SUBJECT_LENGTH = 512;

/** Why a prefix can never hold a token, if it is one of pachd's own; 1.x groups read `group/<idp>`. */
function reservedPrefix(prefix: string): string | undefined {
  const name = prefix.toLowerCase();
  if (name.startsWith('group/')) return RESERVED_PREFIXES.group;
  return Object.hasOwn(RESERVED_PREFIXES, name) ? RESERVED_PREFIXES[name] : undefined;
}

/** Checks the form every generation shares; returns the trimmed subject. */
export function checkSubjectForm(input: string): string {
  const subject = input.trim();
  if (subject === '') throw badRequest('a subject is required, e.g. user:alice@example.com or robot:ci');
  if (subject.length > MAX_SUBJECT_LENGTH) {
    throw badRequest(`a subject has at most ${MAX_SUBJECT_LENGTH} characters; this one has ${subject.length}`);
  }
  // Controls (C0 and C1), format characters (zero-width, bidirectional overrides) and every kind
  // of space: a subject holding one looks like another subject, or like nothing, to a person.
  if (/[\p{Cc}\p{Cf}\p{Z}\s]/u.test(subject)) {
    throw badRequest(
      `subject ${JSON.stringify(subject)} contains whitespace, control or invisible characters (zero-width, ` +
        `bidirectional)`,
    );
  }
  const match = SUBJECT_SHAPE.exec(subject);
  if (match === null) {
    throw badRequest(
      `subject ${JSON.stringify(subject)} must have the form <prefix>:<name>, e.g. user:alice@example.com or robot:ci`,
    );
  }
  const prefix = match[1] ?? '';
  const reserved = reservedPrefix(prefix);
  if (reserved !== undefined) throw badRequest(`${reserved} (got ${JSON.stringify(subject)})`);
  if (prefix === 'robot' && (match[2] ?? '').includes(':')) {
    throw badRequest(`robot names cannot contain colons: ${JSON.stringify(subject)}`);
  }
  return subject;
}

/**
 * Checks a subject against what the pachd generation can issue. pachd 2.x keeps token subjects in
 * a varchar(128) column (varchar(64) before 2.5.4's migration): a longer one fails inside its
 * database.
 */
export function checkSubject(input: string, generation: PachdGeneration, release?: PachdRelease): string {
  const subject = checkSubjectForm(input);
  const prefix = subject.slice(0, subject.indexOf(':'));
  if (generation === 2 && !V2_PREFIXES.includes(prefix)) {
    throw badRequest(`pachd 2.x issues tokens only to user: and robot: subjects, not ${JSON.stringify(subject)}`);
  }
  if (generation === 2) {
    const limit = release === undefined || release.isAtLeast(2, 5, 4) ? 128 : 64;
    if (subject.length > limit) {
      throw badRequest(
        `pachd ${limit === 64 ? 'before 2.5.4' : '2.x'} holds subjects of at most ${limit} characters; this one has ` +
          `${subject.length}`,
      );
    }
  }
  return subject;
}
