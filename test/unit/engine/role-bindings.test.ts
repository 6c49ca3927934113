import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import { PachdRelease } from '../../../plugin/pachyderm/pachd/release';
import {
  checkRoleBindings,
  formatRoleBindings,
  bindingsFromStored,
  MAX_ROLE_BINDINGS,
  parseRoleBindings,
} from '../../../plugin/pachyderm/roles/role-bindings';

const release = (text: string) => PachdRelease.parse(text);

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof VaultError && error.type === ErrorType.InvalidRequest) return error.message;
    throw error;
  }
  throw new Error('expected a 400');
}

describe('role bindings as a role writes them', () => {
  it('reads pachctl-style entries as written, merging entries on one resource', () => {
    const bindings = parseRoleBindings([
      'repo:images=repoReader',
      ' repo:default/images=repoWriter ',
      'repo:default/images=repoReader',
      'repo:default/images=repoWriter',
      'project:default=projectViewer',
      'cluster=secretAdmin',
      'repo:lab/edges=repoWriter',
      '',
    ]);
    expect(bindings).toEqual([
      { resource: { type: 'repo', name: 'images' }, roles: ['repoReader'] },
      { resource: { type: 'repo', name: 'default/images' }, roles: ['repoWriter', 'repoReader'] },
      { resource: { type: 'project', name: 'default' }, roles: ['projectViewer'] },
      { resource: { type: 'cluster', name: '' }, roles: ['secretAdmin'] },
      { resource: { type: 'repo', name: 'lab/edges' }, roles: ['repoWriter'] },
    ]);
    expect(formatRoleBindings(bindings)).toEqual([
      'repo:images=repoReader',
      'repo:default/images=repoWriter',
      'repo:default/images=repoReader',
      'project:default=projectViewer',
      'cluster=secretAdmin',
      'repo:lab/edges=repoWriter',
    ]);
    // What is shown parses back to the same grants.
    expect(parseRoleBindings(formatRoleBindings(bindings))).toEqual(bindings);
  });

  it.each([
    'images=repoReader',
    'repo:images',
    'repo:=repoReader',
    'repo:a/b/c=repoReader',
    'project:a/b=projectViewer',
    'repo:im ages=repoReader',
    'repo:images=repo Reader',
    'cluster:x=secretAdmin',
    'repo:images\u200b=repoReader',
    'repo:images=repoReader=repoWriter',
    'workspace:x=repoReader',
  ])('refuses the malformed entry %j with a 400', (entry) => {
    expect(refusal(() => parseRoleBindings([entry]))).toContain('role binding');
  });

  it('bounds the number of entries', () => {
    const many = Array.from({ length: MAX_ROLE_BINDINGS + 1 }, (_, index) => `repo:r${index}=repoReader`);
    expect(refusal(() => parseRoleBindings(many))).toContain(`at most ${MAX_ROLE_BINDINGS}`);
    expect(parseRoleBindings(many.slice(1))).toHaveLength(MAX_ROLE_BINDINGS);
  });
});

describe('role bindings against what pachd can express', () => {
  const bindings = (...entries: string[]) => parseRoleBindings(entries);

  it('names repos project/repo from 2.5 on, filling in the default project and merging what then coincides', () => {
    expect(
      checkRoleBindings(
        bindings('repo:images=repoReader', 'repo:default/images=repoWriter', 'repo:lab/x=repoWriter'),
        2,
        release('2.11.6'),
      ),
    ).toEqual([
      { resource: { type: 'repo', name: 'default/images' }, roles: ['repoReader', 'repoWriter'] },
      { resource: { type: 'repo', name: 'lab/x' }, roles: ['repoWriter'] },
    ]);
    // projectViewer and projectWriter came a release after projects.
    expect(refusal(() => checkRoleBindings(bindings('project:default=projectViewer'), 2, release('2.5.4')))).toContain(
      'before 2.6',
    );
    expect(checkRoleBindings(bindings('cluster=projectCreator'), 2, release('2.5.4'))).toHaveLength(1);
  });

  it('names repos bare before projects existed, and refuses projects there', () => {
    expect(
      checkRoleBindings(bindings('repo:images=repoWriter', 'repo:default/images=repoReader'), 2, release('2.4.6')),
    ).toEqual([{ resource: { type: 'repo', name: 'images' }, roles: ['repoWriter', 'repoReader'] }]);
    expect(refusal(() => checkRoleBindings(bindings('repo:lab/images=repoWriter'), 2, release('2.4.6')))).toContain(
      'no projects',
    );
    expect(refusal(() => checkRoleBindings(bindings('project:default=projectViewer'), 2, release('2.4.6')))).toContain(
      'no projects',
    );
    expect(refusal(() => checkRoleBindings(bindings('cluster=projectCreator'), 2, release('2.4.6')))).toContain(
      'no role projectCreator',
    );
  });

  it('maps 1.x to one scope per repo and refuses what its model cannot say', () => {
    expect(checkRoleBindings(bindings('repo:images=repoWriter'), 1, release('1.13.4'))).toEqual([
      { resource: { type: 'repo', name: 'images' }, roles: ['repoWriter'] },
    ]);
    expect(
      refusal(() =>
        checkRoleBindings(bindings('repo:images=repoReader', 'repo:images=repoWriter'), 1, release('1.13.4')),
      ),
    ).toContain('one scope per user and repo');
    // The same repo written two ways is one repo to 1.x: refused when written, not at every read.
    expect(
      refusal(() =>
        checkRoleBindings(bindings('repo:images=repoReader', 'repo:default/images=repoWriter'), 1, release('1.13.4')),
      ),
    ).toContain('one scope per user and repo');
    expect(refusal(() => checkRoleBindings(bindings('cluster=secretAdmin'), 1, release('1.13.4')))).toContain('1.x');
    expect(refusal(() => checkRoleBindings(bindings('project:default=projectViewer'), 1, release('1.13.4')))).toContain(
      'no projects',
    );
  });

  it('refuses unknown roles, roles on the wrong resource, and roles that outlive a lease', () => {
    expect(refusal(() => checkRoleBindings(bindings('repo:images=noSuchRole'), 2, release('2.11.6')))).toContain(
      'unknown pachd role "noSuchRole"',
    );
    expect(refusal(() => checkRoleBindings(bindings('repo:images=projectViewer'), 2, release('2.11.6')))).toContain(
      'projectViewer means nothing on a repo',
    );
    expect(refusal(() => checkRoleBindings(bindings('repo:images=constructor'), 2, release('2.11.6')))).toContain(
      'unknown pachd role',
    );
    for (const role of [
      'clusterAdmin',
      'robotUser',
      'identityAdmin',
      'idpAdmin',
      'oidcAppAdmin',
      'repoOwner',
      'projectOwner',
    ]) {
      expect(refusal(() => checkRoleBindings(bindings(`cluster=${role}`), 2, release('2.11.6')))).toContain(
        `cannot be given ${role}`,
      );
    }
    expect(refusal(() => checkRoleBindings(bindings('repo:images=repoOwner'), 1, release('1.13.4')))).toContain(
      'cannot be given repoOwner',
    );
    expect(refusal(() => checkRoleBindings([], 2, release('2.11.6')))).toContain('at least one');
  });

  it('reads stored grants back, and nothing else', () => {
    const stored = JSON.parse(JSON.stringify(bindings('repo:images=repoReader', 'cluster=debugger'))) as unknown;
    expect(bindingsFromStored(stored)).toEqual(bindings('repo:images=repoReader', 'cluster=debugger'));
    for (const bad of [
      null,
      'x',
      [null],
      [{ resource: { type: 'repo' }, roles: [] }],
      [{ resource: { type: 'job', name: 'x' }, roles: [] }],
      [{ resource: { type: 'repo', name: 'x' }, roles: [1] }],
    ]) {
      expect(bindingsFromStored(bad)).toBeUndefined();
    }
  });
});
