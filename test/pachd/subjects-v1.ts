/**
 * @file
 * How 1.x pachd canonicalizes a subject (auth's CanonicalizeSubject): a bare name is a GitHub
 * user, configured ID providers' prefixes pass, `pach:` only from 1.11.9 on.
 */

import { plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';

export function canonicalV1Subject(version: PachdVersion, idps: ReadonlySet<string>, subject: string): string {
  if (subject === 'allClusterUsers') return subject;
  let colon = subject.indexOf(':');
  let canonical = subject;
  if (colon < 0) {
    canonical = `github:${subject}`;
    colon = 'github'.length;
  }
  const prefix = canonical.slice(0, colon);
  for (const idp of idps) {
    if (prefix === idp || prefix === `group/${idp}`) return canonical;
  }
  switch (prefix) {
    case 'github': {
      const user = canonical.slice('github:'.length);
      if (user.includes(':')) {
        throw plainGoError(`invalid username has multiple prefixes: github:${user}`);
      }
      // As with PACHYDERM_AUTHENTICATION_DISABLED_FOR_TESTING=true: no GitHub lookup.
      return canonical;
    }
    case 'robot':
    case 'pipeline':
      return canonical;
    case 'pach':
      if (version.isAtLeast(1, 11, 9)) return canonical;
      break;
    default:
      break;
  }
  throw plainGoError(`subject has unrecognized prefix: ${canonical.slice(0, colon + 1)}`);
}
