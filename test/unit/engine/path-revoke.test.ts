import { ErrorType } from '../../../plugin/sdk/errors';
import { EngineHarness } from './engine-harness';

describe.each([1, 2] as const)('the revoke path, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it("refuses the engine's own admin token with a 400 that does not repeat it, and the admin token keeps working", async () => {
    const root = harness.pachd.rootToken;
    for (const value of [root, ` ${root} `]) {
      const error = await harness.failure('update', 'revoke', { user_token: value });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/own admin token/);
      expect(error.message).not.toContain(root);
    }
    expect(await harness.whoAmI(root)).toBe('pach:root');
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('refuses an empty or blank user_token with a 400 instead of doing nothing', async () => {
    for (const value of ['', '   ', '\t']) {
      const error = await harness.failure('update', 'revoke', { user_token: value });
      expect(error.type).toBe(ErrorType.InvalidRequest);
    }
    expect((await harness.failure('update', 'revoke', {})).message).toMatch(/missing required field "user_token"/);
  });

  it("revokes an issued token by value, and the lease's own revoke afterwards is harmless", async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    expect(await harness.request('update', 'revoke', { user_token: ` ${token}\n` })).toBeUndefined();
    expect(await harness.whoAmI(token)).toBeUndefined();
    expect(harness.liveToken(token)).toBeUndefined();
    expect(await harness.revokeLease(issued)).toBeUndefined();
  });

  it('counts a token pachd does not know as revoked', async () => {
    expect(
      await harness.request('update', 'revoke', { user_token: '0123456789abcdef0123456789abcdef' }),
    ).toBeUndefined();
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    await harness.request('update', 'revoke', { user_token: token });
    expect(await harness.request('update', 'revoke', { user_token: token })).toBeUndefined();
  });

  it('revokes a token it did not issue, and only that one', async () => {
    const other = harness.pachd.control.createToken({ subject: 'robot:other' });
    const kept = harness.pachd.control.createToken({ subject: 'robot:other' });
    await harness.request('update', 'revoke', { user_token: other.token });
    expect(await harness.whoAmI(other.token)).toBeUndefined();
    expect(await harness.whoAmI(kept.token)).toBe('robot:other');
  });

  it('refuses characters no pachd token has with a 400, before asking pachd', async () => {
    await harness.pachd.control.makeUnavailable();
    for (const value of ['abc def', 'abc\u0000def', 'tökén']) {
      const error = await harness.failure('update', 'revoke', { user_token: value });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/characters no pachd token has/);
    }
    await harness.pachd.control.makeAvailable();
  });

  it('gives 502 naming the address when pachd is down, and revokes once it is back', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    await harness.pachd.control.makeUnavailable();
    const error = await harness.failure('update', 'revoke', { user_token: token });
    expect(error.code).toBe(502);
    expect(error.message).toMatch(/^cannot revoke the token: /);
    expect(error.message).toContain(harness.pachd.pachdAddress);
    expect(error.message).not.toContain(token);
    await harness.pachd.control.makeAvailable();
    await harness.request('update', 'revoke', { user_token: token });
    expect(await harness.whoAmI(token)).toBeUndefined();
  });

  it('asks for the configuration first', async () => {
    await harness.request('delete', 'config');
    const error = await harness.failure('update', 'revoke', { user_token: harness.pachd.rootToken });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/not configured/);
    expect(await harness.whoAmI(harness.pachd.rootToken)).toBe('pach:root');
  });
});
