import { DeadlineTimers } from '../../../plugin/pachyderm/mount/deadline-timers';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeadlineTimers', () => {
  it('runs work at its time, replaced by a later arm for the same key', async () => {
    const ran: string[] = [];
    const timers = new DeadlineTimers(() => undefined);
    timers.arm('a', Date.now() + 20, async () => void ran.push('a1'));
    timers.arm('a', Date.now() + 40, async () => void ran.push('a2'));
    timers.arm('b', Date.now() - 1000, async () => void ran.push('b'));
    await sleep(100);
    expect(ran.sort()).toEqual(['a2', 'b']);
    await timers.close();
  });

  it('waits past what setTimeout can wait in one step instead of firing at once', async () => {
    let ran = false;
    const timers = new DeadlineTimers(() => undefined);
    timers.arm('far', Date.now() + 40 * 86_400_000, async () => {
      ran = true;
    });
    await sleep(50);
    expect(ran).toBe(false);
    expect(timers.has('far')).toBe(true);
    await timers.close();
    expect(timers.has('far')).toBe(false);
  });

  it('close cancels what waits, refuses new work, and waits for what runs; failures are reported', async () => {
    const errors: string[] = [];
    const timers = new DeadlineTimers((key, error) => errors.push(`${key}: ${(error as Error).message}`));
    let finished = false;
    timers.arm('slow', Date.now(), async () => {
      await sleep(100);
      finished = true;
    });
    timers.arm('failing', Date.now(), async () => {
      throw new Error('pachd is down');
    });
    let late = false;
    timers.arm('late', Date.now() + 30, async () => {
      late = true;
    });
    await sleep(10);
    await timers.close();
    expect(finished).toBe(true);
    expect(errors).toEqual(['failing: pachd is down']);
    timers.arm('after', Date.now(), async () => {
      late = true;
    });
    await sleep(60);
    expect(late).toBe(false);
  });
});
