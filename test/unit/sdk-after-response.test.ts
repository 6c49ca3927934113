import { DeferredWork } from '../../plugin/sdk/after-response';

describe('work deferred after an answer', () => {
  it('runs after its delay, or at a flush, once', async () => {
    const deferred = new DeferredWork();
    let runs = 0;
    deferred.defer(10_000, async () => {
      runs += 1;
    });
    expect(runs).toBe(0);
    await deferred.flush();
    await deferred.flush();
    expect(runs).toBe(1);
    expect(deferred.size).toBe(0);
  });

  it('waits at a flush for work its timer had already started', async () => {
    const deferred = new DeferredWork();
    let finish: () => void = () => undefined;
    let finished = false;
    deferred.defer(0, async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      finished = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    let flushed = false;
    const flush = deferred.flush().then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(flushed).toBe(false);
    finish();
    await flush;
    expect(finished).toBe(true);
    expect(deferred.size).toBe(0);
  });
});
