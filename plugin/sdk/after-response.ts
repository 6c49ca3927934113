import type { Logger } from '../goplugin/logger';

/**
 * Work a handler leaves for after its answer went out. `delivered` is false when the host had
 * given up on the request before the answer was sent, or the request failed: the host then holds
 * nothing of what the handler produced.
 */
export type AfterResponseTask = (delivered: boolean) => Promise<void>;

/** The tasks of one request, run once its answer is on its way. */
export class AfterResponse {
  private readonly tasks: AfterResponseTask[] = [];

  readonly add = (task: AfterResponseTask): void => {
    this.tasks.push(task);
  };

  get pending(): number {
    return this.tasks.length;
  }

  /** Runs every task, one after another; a task's failure is logged and does not stop the rest. */
  async settle(delivered: boolean, logger: Logger): Promise<void> {
    const tasks = this.tasks.splice(0);
    for (const task of tasks) {
      try {
        await task(delivered);
      } catch (error) {
        logger.error('work after a response failed', { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
}

/**
 * Work held back for a while after an answer, that must still run, and finish, before whatever
 * it needs goes away: `flush` starts what is still waiting and resolves once everything started
 * has finished, including work the timer had started already.
 */
export class DeferredWork {
  private readonly items = new Set<{ start: () => Promise<void> }>();

  /** Runs `work` after `delayMs`, or at the next flush if that comes first. */
  defer(delayMs: number, work: () => Promise<void>): void {
    let running: Promise<void> | undefined;
    const item = {
      start: (): Promise<void> => {
        clearTimeout(timer);
        running ??= work().finally(() => this.items.delete(item));
        return running;
      },
    };
    const timer = setTimeout(() => void item.start(), delayMs);
    this.items.add(item);
  }

  /** How much work is waiting or running. */
  get size(): number {
    return this.items.size;
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.items].map((item) => item.start()));
  }
}
