/**
 * A pachd release as its version API reports it (`major.minor.micro` plus `additional`), for the
 * behaviours that changed between releases.
 */
export class PachdRelease {
  private constructor(
    readonly major: number,
    readonly minor: number,
    readonly micro: number,
  ) {}

  /** undefined when the text is not a version (a build without one reports 0.0.0). */
  static parse(text: string): PachdRelease | undefined {
    const match = /^(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
    if (match === null) return undefined;
    return new PachdRelease(Number(match[1]), Number(match[2]), Number(match[3]));
  }

  isAtLeast(major: number, minor: number, micro: number): boolean {
    if (this.major !== major) return this.major > major;
    if (this.minor !== minor) return this.minor > minor;
    return this.micro >= micro;
  }
}

/** pachd 1.x installs tokens of a caller's choosing from 1.11.9 (the 1.11 backport) on. */
export function v1CanRestore(release: PachdRelease | undefined): boolean {
  return release !== undefined && release.isAtLeast(1, 11, 9);
}

/** pachd 1.x answers an error for revoking an unknown token from 1.13.3 on; before, success. */
export function v1ReportsUnknownRevocations(release: PachdRelease | undefined): boolean {
  return release !== undefined && release.isAtLeast(1, 13, 3);
}
