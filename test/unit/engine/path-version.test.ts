import { ErrorType } from '../../../plugin/sdk/errors';
import { PLUGIN_VERSION } from '../../../plugin/pachyderm/version';
import { EngineHarness } from './engine-harness';

describe.each([1, 2] as const)('the version paths, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('reports the plugin and pachd versions', async () => {
    await harness.configure();
    expect((await harness.request('read', 'version/client-only'))?.data).toEqual({
      'client-version': expect.stringMatching(/^v\d+\.\d+\.\d+/),
      node_version: process.version,
    });
    expect((await harness.request('read', 'version'))?.data).toMatchObject({
      node_version: process.version,
      'server-version': generation === 1 ? '1.13.4' : '2.12.0',
      pachd_generation: generation,
    });
  });

  it("names the configured pachd's canonical address and the plugin's own version", async () => {
    await harness.configure({ pachd_address: harness.pachd.pachdAddress.replace('grpc://', 'http://') });
    const data = (await harness.request('read', 'version'))?.data;
    expect(data?.['client-version']).toBe(PLUGIN_VERSION);
    expect(data?.pachd_address).toBe(harness.pachd.pachdAddress);
  });

  it('answers client-only without a configuration or a pachd', async () => {
    await harness.pachd.control.makeUnavailable();
    expect((await harness.request('read', 'version/client-only'))?.data).toEqual({
      'client-version': PLUGIN_VERSION,
      node_version: process.version,
    });
    await harness.pachd.control.makeAvailable();
  });

  it('asks for the configuration before asking pachd', async () => {
    const error = await harness.failure('read', 'version');
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/not configured/);
  });

  it('gives 502 naming the address when pachd is down', async () => {
    await harness.configure();
    await harness.pachd.control.makeUnavailable();
    const error = await harness.failure('read', 'version');
    expect(error.code).toBe(502);
    expect(error.message).toMatch(/^cannot read the pachd version: /);
    expect(error.message).toContain(harness.pachd.pachdAddress);
    await harness.pachd.control.makeAvailable();
    expect((await harness.request('read', 'version'))?.data).toMatchObject({ pachd_generation: generation });
  });

  it('asks pachd again on every read rather than repeating what it learned at configuration', async () => {
    await harness.configure();
    const before = harness.pachd.control.stats().calls.total;
    await harness.request('read', 'version');
    await harness.request('read', 'version');
    expect(harness.pachd.control.stats().calls.total).toBeGreaterThanOrEqual(before + 2);
  });
});
