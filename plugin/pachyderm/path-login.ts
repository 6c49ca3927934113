import { badRequest } from '../sdk/errors';
import { definePath, type Path } from '../sdk/path';
import type { Engine } from './mount/engine';
import { MAX_SUBJECT_LENGTH } from './roles/subjects';
import { issueToken } from './issuance/issue-token';

/**
 * The original plugin's flow: a token for any subject the caller names,
 * `vault write pachyderm/login username=user:alice ttl=30m` or `vault write pachyderm/login/robot:ci`.
 * Whoever may write here may impersonate anyone at pachd; grant it to few, and prefer roles.
 */
export function loginPath(engine: Engine): Path {
  return definePath({
    pattern: 'login(?:/(?<subject>.+))?',
    helpSynopsis: "Issue a pachd token for any subject (the original plugin's login flow).",
    helpDescription: `
Issues a token for the subject given as username (or in the path) behind a lease. A policy
that allows this path lets its holder act as anyone at pachd: limit it with paths such as
login/robot:ci, or use roles and creds/ instead.`,
    fields: {
      subject: {
        type: 'string',
        description: 'The subject, given in the path: login/user:alice@example.com.',
        maxLength: MAX_SUBJECT_LENGTH,
        in: 'path',
      },
      username: {
        type: 'string',
        description: 'The subject, e.g. user:alice@example.com, robot:ci or (1.x) github:alice.',
        maxLength: MAX_SUBJECT_LENGTH,
      },
      ttl: { type: 'duration', description: 'Lease TTL; defaults to the configured ttl or the mount default.' },
      max_ttl: {
        type: 'duration',
        description: 'Max TTL (the 2.x token lifetime); defaults to the configured max_ttl or the mount max.',
      },
    },
    operations: {
      update: {
        summary: 'Issue a token for a subject.',
        handler: async (request, fields) => {
          const fromPath = fields.optionalString('subject');
          const fromBody = fields.optionalString('username');
          if (fromPath !== undefined && fromBody !== undefined && fromPath !== fromBody) {
            throw badRequest(`the subject in the path (${fromPath}) and username (${fromBody}) differ`);
          }
          const subject = fromPath ?? fromBody;
          if (subject === undefined || subject.trim() === '') {
            throw badRequest('username is required, e.g. username=user:alice@example.com');
          }
          return issueToken(engine, request, {
            subject,
            source: 'login',
            role: '',
            requestedTtl: fields.optionalDuration('ttl'),
            requestedMaxTtl: fields.optionalDuration('max_ttl'),
          });
        },
      },
    },
  });
}
