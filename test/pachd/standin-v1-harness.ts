/**
 * @file
 * What the 1.x stand-in's tests share: a stand-in per test, a gRPC client, and its root token.
 */
import { PachdTestClient } from './pachd-test-client';
import { type PachdStandin, type PachdStandinOptions, startPachdStandin } from './standin';

export const AUTH = 'auth.API';
export const VERSION = 'versionpb.API';
export const BAD_TOKEN = 'provided auth token is corrupted or has expired (try logging in again)';

export interface WhoAmI {
  username: string;
  is_admin: boolean;
  ttl: string;
  cluster_roles: { roles: number[] } | null;
}
export interface AuthToken {
  token: string;
  subject: string;
}
export interface HashedAuthToken {
  hashed_token: string;
  token_info: { subject: string; source: number } | null;
  expiration: { seconds: string; nanos: number } | null;
}

export interface Harness {
  standin: PachdStandin;
  client: PachdTestClient;
  root: string;
  mint(subject: string, ttl: number): Promise<AuthToken>;
  whoAmI(token: string): Promise<WhoAmI>;
}

const running: Harness[] = [];

export async function harness(options: PachdStandinOptions = {}): Promise<Harness> {
  const standin = await startPachdStandin({ generation: 1, ...options });
  const client = new PachdTestClient(standin.address);
  const root = standin.rootToken;
  const created: Harness = {
    standin,
    client,
    root,
    mint: (subject, ttl) => client.call<AuthToken>(AUTH, 'GetAuthToken', { subject, ttl }, { token: root }),
    whoAmI: (token) => client.call<WhoAmI>(AUTH, 'WhoAmI', {}, { token }),
  };
  running.push(created);
  return created;
}

afterEach(async () => {
  for (const { standin, client } of running.splice(0)) {
    client.close();
    await standin.stop();
  }
});
