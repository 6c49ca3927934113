/**
 * @file
 * A storage write that matters after the answer went out (a journal's release), tried a few
 * times before its caller falls back on the rollback: a passing storage hiccup should not make
 * the rollback revoke a token Vault holds a lease for.
 */

const ATTEMPTS = 3;
const RETRY_MS = 200;

/** Runs `write` until it succeeds, at most three times, waiting longer each time; rethrows the last failure. */
export async function withStorageRetries(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await write();
      return;
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS * attempt));
    }
  }
}
