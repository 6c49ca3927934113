// The 1.x stand-in's admins (GetAdmins, ModifyAdmins) and deactivation, through real gRPC clients.
import * as grpc from '@grpc/grpc-js';

import { AUTH, harness, type AuthToken } from './standin-v1-harness';

describe('1.x admins', () => {
  it('adds admins with ModifyAdmins and lists SUPER holders with GetAdmins', async () => {
    const { client, root, mint, whoAmI } = await harness();
    await client.call(AUTH, 'ModifyAdmins', { add: ['robot:deputy'] }, { token: root });
    const admins = await client.call<{ admins: string[] }>(AUTH, 'GetAdmins', {}, { token: root });
    expect(admins.admins).toEqual(['pach:root', 'robot:deputy']);
    const deputy = await mint('robot:deputy', 600);
    expect((await whoAmI(deputy.token)).is_admin).toBe(true);
    const minted = await client.call<AuthToken>(AUTH, 'GetAuthToken', { subject: 'robot:x' }, { token: deputy.token });
    expect(minted.subject).toBe('robot:x');
  });

  it('refuses contradictory or admin-less changes', async () => {
    const { client, root } = await harness();
    const both = await client.failure(AUTH, 'ModifyAdmins', { add: ['robot:a'], remove: ['robot:a'] }, { token: root });
    expect(both.details).toBe('Invalid Request: "robot:a" both added and removed as admin');
    const none = await client.failure(AUTH, 'ModifyAdmins', { remove: ['pach:root'] }, { token: root });
    expect(none.details).toBe(
      'error applying cluster role bindings: invalid request: cannot remove all cluster administrators while auth ' +
        'is active, to avoid unfixable cluster states',
    );
  });

  it('answers ErrNotActivated while auth is deactivated, and recovers', async () => {
    const { standin, client, root, whoAmI } = await harness();
    standin.control.deactivateAuth();
    const off = await client.failure(AUTH, 'WhoAmI', {}, { token: root });
    expect([off.code, off.details]).toEqual([grpc.status.UNIMPLEMENTED, 'the auth service is not activated']);
    const mintOff = await client.failure(AUTH, 'GetAuthToken', { subject: 'robot:x' }, { token: root });
    expect(mintOff.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(standin.control.activateAuth().rootToken).toBe(root);
    expect((await whoAmI(root)).username).toBe('pach:root');
  });
});
