import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import { ceilSeconds } from '../../../plugin/sdk/duration';
import {
  defaultTtls,
  ENGINE_DEFAULT_MAX_TTL,
  ENGINE_DEFAULT_TTL,
  MIN_PACHD_LIFETIME_SECONDS,
  pachdLifetime,
  resolveLeaseTtls,
  V1_EXPIRY_SKEW_SECONDS,
  type TtlInputs,
} from '../../../plugin/pachyderm/issuance/lease-ttl';

const SECOND = 1_000_000_000n;
const MINUTE = 60n * SECOND;
const HOUR = 60n * MINUTE;
const DAY = 24n * HOUR;
const THIRTY_DAYS = 30n * DAY;

function inputs(overrides: Partial<TtlInputs> = {}): TtlInputs {
  return {
    generation: 2,
    configTtl: 0n,
    configMaxTtl: 0n,
    mountDefaultTtl: 32n * DAY,
    mountMaxTtl: 32n * DAY,
    ...overrides,
  };
}

function refusal(check: () => unknown): VaultError {
  try {
    check();
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
  throw new Error('accepted, a 400 was expected');
}

describe('defaultTtls', () => {
  it("uses the engine's short defaults under Vault's 32-day mount defaults", () => {
    expect(defaultTtls(32n * DAY, 32n * DAY)).toEqual({ ttl: ENGINE_DEFAULT_TTL, maxTtl: ENGINE_DEFAULT_MAX_TTL });
  });

  it('follows a mount that sets less', () => {
    expect(defaultTtls(10n * MINUTE, 2n * HOUR)).toEqual({ ttl: 10n * MINUTE, maxTtl: 2n * HOUR });
    // A default above the max is capped by it.
    expect(defaultTtls(32n * DAY, 30n * MINUTE)).toEqual({ ttl: 30n * MINUTE, maxTtl: 30n * MINUTE });
  });

  it("takes the mount's default TTL as its max when the mount sets no max, and the engine's when it sets neither", () => {
    expect(defaultTtls(20n * MINUTE, 0n)).toEqual({ ttl: 20n * MINUTE, maxTtl: 20n * MINUTE });
    expect(defaultTtls(0n, 0n)).toEqual({ ttl: ENGINE_DEFAULT_TTL, maxTtl: ENGINE_DEFAULT_MAX_TTL });
  });
});

describe('resolveLeaseTtls', () => {
  it('takes the request over the role over the configuration', () => {
    const layered = inputs({
      roleTtl: 20n * MINUTE,
      roleMaxTtl: 3n * HOUR,
      configTtl: 30n * MINUTE,
      configMaxTtl: 4n * HOUR,
    });
    expect(resolveLeaseTtls(layered)).toMatchObject({ ttl: 20n * MINUTE, maxTtl: 3n * HOUR, warnings: [] });
    expect(resolveLeaseTtls({ ...layered, requestedTtl: 5n * MINUTE, requestedMaxTtl: 2n * HOUR })).toMatchObject({
      ttl: 5n * MINUTE,
      maxTtl: 2n * HOUR,
    });
    // Zero means "not set", not "no lifetime".
    expect(resolveLeaseTtls({ ...layered, requestedTtl: 0n, roleTtl: 0n })).toMatchObject({ ttl: 30n * MINUTE });
  });

  it("refuses a requested max_ttl above the mount's max, but caps a configured one with a warning", () => {
    const mount = { mountDefaultTtl: HOUR, mountMaxTtl: 2n * HOUR };
    const asked = refusal(() => resolveLeaseTtls(inputs({ ...mount, requestedMaxTtl: 3n * HOUR })));
    expect(asked.type).toBe(ErrorType.InvalidRequest);
    expect(asked.message).toMatch(/above this mount's max lease TTL/);
    const configured = resolveLeaseTtls(inputs({ ...mount, roleMaxTtl: 3n * HOUR }));
    expect(configured.maxTtl).toBe(2n * HOUR);
    expect(configured.warnings).toEqual([expect.stringMatching(/above this mount's max lease TTL; using/)]);
  });

  it('refuses a requested ttl above max_ttl, and caps a configured one with a warning; a default is capped silently', () => {
    expect(refusal(() => resolveLeaseTtls(inputs({ requestedTtl: 2n * HOUR, requestedMaxTtl: HOUR }))).message).toMatch(
      /above max_ttl/,
    );
    const configured = resolveLeaseTtls(inputs({ roleTtl: 2n * HOUR, roleMaxTtl: HOUR }));
    expect(configured).toMatchObject({ ttl: HOUR, maxTtl: HOUR });
    expect(configured.warnings).toEqual([expect.stringMatching(/above max_ttl; using/)]);
    const defaulted = resolveLeaseTtls(inputs({ requestedMaxTtl: 30n * MINUTE }));
    expect(defaulted).toMatchObject({ ttl: 30n * MINUTE, maxTtl: 30n * MINUTE, warnings: [] });
  });

  it('holds 1.x to its 30 days: refused when asked for, capped with a warning when configured', () => {
    const mount = { generation: 1 as const, mountDefaultTtl: 60n * DAY, mountMaxTtl: 60n * DAY };
    expect(resolveLeaseTtls(inputs({ ...mount, requestedTtl: THIRTY_DAYS, requestedMaxTtl: 40n * DAY })).ttl).toBe(
      THIRTY_DAYS,
    );
    const asked = refusal(() =>
      resolveLeaseTtls(inputs({ ...mount, requestedTtl: THIRTY_DAYS + SECOND, requestedMaxTtl: 40n * DAY })),
    );
    expect(asked.message).toMatch(/above what pachd 1\.x issues/);
    const configured = resolveLeaseTtls(inputs({ ...mount, roleTtl: 31n * DAY, roleMaxTtl: 40n * DAY }));
    expect(configured.ttl).toBe(THIRTY_DAYS);
    expect(configured.warnings).toEqual([expect.stringMatching(/using 30 days/)]);
    // 2.x has no such cap: the token is cut at max_ttl.
    expect(
      resolveLeaseTtls(inputs({ ...mount, generation: 2, requestedTtl: 31n * DAY, requestedMaxTtl: 40n * DAY })).ttl,
    ).toBe(31n * DAY);
  });

  it('refuses lifetimes under a second', () => {
    expect(
      refusal(() => resolveLeaseTtls(inputs({ requestedTtl: SECOND - 1n, requestedMaxTtl: SECOND - 1n }))).message,
    ).toMatch(/at least one second/);
    expect(resolveLeaseTtls(inputs({ requestedTtl: SECOND, requestedMaxTtl: SECOND })).ttl).toBe(SECOND);
  });

  it("asks pachd for the lease's lifetime on 1.x and for max_ttl on 2.x", () => {
    const asked = { requestedTtl: 10n * MINUTE, requestedMaxTtl: 2n * HOUR };
    expect(resolveLeaseTtls(inputs({ ...asked, generation: 1 })).pachdLifetimeSeconds).toBe(
      600 + V1_EXPIRY_SKEW_SECONDS,
    );
    expect(resolveLeaseTtls(inputs({ ...asked, generation: 2 })).pachdLifetimeSeconds).toBe(7200 + 1);
  });
});

describe('pachdLifetime', () => {
  it('never asks pachd for less than the minimum, whose rounding could make a token immortal', () => {
    expect(pachdLifetime(1, SECOND, SECOND)).toBe(MIN_PACHD_LIFETIME_SECONDS + V1_EXPIRY_SKEW_SECONDS);
    expect(pachdLifetime(2, SECOND, SECOND)).toBe(MIN_PACHD_LIFETIME_SECONDS + 1);
  });

  it('rounds partial seconds up, and caps 1.x at 30 days including the skew', () => {
    expect(pachdLifetime(1, 60n * SECOND + 1n, HOUR)).toBe(61 + V1_EXPIRY_SKEW_SECONDS);
    expect(pachdLifetime(2, MINUTE, HOUR + 1n)).toBe(3601 + 1);
    expect(pachdLifetime(1, THIRTY_DAYS, THIRTY_DAYS)).toBe(2_592_000);
  });
});

describe('ceilSeconds', () => {
  it('rounds up to whole seconds', () => {
    expect(ceilSeconds(0n)).toBe(0);
    expect(ceilSeconds(1n)).toBe(1);
    expect(ceilSeconds(SECOND)).toBe(1);
    expect(ceilSeconds(SECOND + 1n)).toBe(2);
  });
});
