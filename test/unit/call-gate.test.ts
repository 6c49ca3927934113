import { GateTimeout, PachdCallGate } from '../../plugin/pachyderm/pachd/call-gate';

/** A call that ends when the test says so. */
function controllable() {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { finish, call: () => done };
}

const later = () => Date.now() + 60_000;
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the gate in front of token writes to one pachd', () => {
  it('lets at most `limit` calls run at once, and the rest in arrival order', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    const started: number[] = [];
    const calls = Array.from({ length: 5 }, () => controllable());
    const runs = calls.map((control, index) =>
      gate.run(2, later(), async () => {
        started.push(index);
        await control.call();
        return index;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.queued]).toEqual([2, 3]);
    calls[1]?.finish();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    for (const control of calls) control.finish();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
  });

  it('holds each caller to its own limit, and 0 to none', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    const first = controllable();
    const second = controllable();
    const a = gate.run(0, later(), first.call);
    const b = gate.run(0, later(), second.call);
    await settle();
    expect(gate.active).toBe(2);
    // A caller limited to 1 waits while two others run unbounded.
    let ran = false;
    const c = gate.run(1, later(), async () => {
      ran = true;
    });
    await settle();
    expect(ran).toBe(false);
    first.finish();
    second.finish();
    await Promise.all([a, b, c]);
    expect(ran).toBe(true);
  });

  it('gives up on a caller whose deadline passes before its turn, without losing a place', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    const blocker = controllable();
    const running = gate.run(1, later(), blocker.call);
    const waiting = gate.run(1, Date.now() + 20, async () => 'never');
    await expect(waiting).rejects.toBeInstanceOf(GateTimeout);
    await expect(waiting).rejects.toThrow(/busy: 1 token writes in flight \(at most 1 at once\)/);
    expect(gate.queued).toBe(0);
    blocker.finish();
    await running;
    expect(await gate.run(1, later(), async () => 'next')).toBe('next');
    expect(gate.active).toBe(0);
  });

  it('frees the place of a call that fails', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    await expect(gate.run(1, later(), async () => Promise.reject(new Error('pachd said no')))).rejects.toThrow(
      'pachd said no',
    );
    expect(await gate.run(1, later(), async () => 'ok')).toBe('ok');
    expect(gate.active).toBe(0);
  });

  it('turns a waiting caller away, sending nothing, once its deadline is nearer than a write usually takes', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    await gate.run(1, later(), () => new Promise((resolve) => setTimeout(resolve, 60)));
    const blocker = controllable();
    const running = gate.run(1, later(), blocker.call);
    let sent = false;
    const waiting = gate.run(1, Date.now() + 30, async () => {
      sent = true;
    });
    await expect(waiting).rejects.toBeInstanceOf(GateTimeout);
    expect(sent).toBe(false);
    blocker.finish();
    await running;
  });

  it('sends a call at once when there is room, whatever calls took before, and learns only from answered ones', async () => {
    const gate = new PachdCallGate('grpc://pachd:30650');
    // A call that ran into its deadline does not count as how long writes take.
    await expect(
      gate.run(1, later(), () => new Promise((_, reject) => setTimeout(() => reject(new Error('deadline')), 80))),
    ).rejects.toThrow();
    let sent = false;
    await gate.run(1, Date.now() + 10, async () => {
      sent = true;
    });
    expect(sent).toBe(true);
  });
});
