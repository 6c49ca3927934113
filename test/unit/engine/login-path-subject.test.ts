import { ErrorType } from '../../../plugin/sdk/errors';
import { EngineHarness } from './engine-harness';

/**
 * login's `subject` is the path's (login/<subject>): sent in the body it would be read as the
 * subject and sidestep a policy that constrains `username`, so it is refused before pachd is asked.
 */
describe.each([1, 2] as const)('the subject of login, pachd %i.x', (generation) => {
  const user = generation === 1 ? 'okta:alice@example.com' : 'user:alice@example.com';
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
    harness.pachd.control.resetStats();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('refuses subject in the body with a 400, and no token is issued at pachd', async () => {
    const tokensBefore = harness.pachd.control.tokenHistory().length;
    const error = await harness.failure('update', 'login', { subject: user });
    expect(error.type).toBe(ErrorType.InvalidRequest); // Vault's 400
    expect(error.message).toContain('field "subject" is part of the path (login/<subject>)');
    expect(harness.pachd.control.tokenHistory()).toHaveLength(tokensBefore);
    expect(harness.pachd.control.stats().calls.total).toBe(0);
  });

  it('takes the subject from the path, with a username that agrees', async () => {
    const response = await harness.request('update', `login/${user}`, { username: user });
    expect(await harness.whoAmI(response?.data?.user_token as string)).toBe(user);
  });

  it('takes the subject from username', async () => {
    const response = await harness.request('update', 'login', { username: user });
    expect(await harness.whoAmI(response?.data?.user_token as string)).toBe(user);
  });
});
