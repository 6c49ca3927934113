/**
 * Runs tasks one at a time, in the order they were handed over. A task that fails does not stop
 * the ones queued behind it.
 */
export class SerialRunner {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
