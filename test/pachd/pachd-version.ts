/** A pachd release number as GetVersion reports it: major.minor.micro plus a free suffix. */
export class PachdVersion {
  private constructor(
    readonly major: number,
    readonly minor: number,
    readonly micro: number,
    /** Appended to the dotted triple without a separator, e.g. "-rc.1". */
    readonly additional: string,
  ) {}

  static parse(text: string): PachdVersion {
    const match = /^v?(\d+)\.(\d+)\.(\d+)(.*)$/.exec(text.trim());
    if (match === null) {
      throw new Error(`pachd version ${JSON.stringify(text)} is not of the form MAJOR.MINOR.MICRO[suffix]`);
    }
    const [, major, minor, micro, additional] = match;
    return new PachdVersion(Number(major), Number(minor), Number(micro), additional ?? '');
  }

  /**
   * Compares the numeric triple only: pachd's own version checks (`version.IsAtLeast`) ignore the
   * suffix, so a 2.7.0 release candidate already behaves like 2.7.0.
   */
  isAtLeast(major: number, minor: number, micro = 0): boolean {
    if (this.major !== major) return this.major > major;
    if (this.minor !== minor) return this.minor > minor;
    return this.micro >= micro;
  }

  toString(): string {
    return `${this.major}.${this.minor}.${this.micro}${this.additional}`;
  }
}

export type PachdGeneration = 1 | 2;

export const DEFAULT_PACHD_VERSION: Record<PachdGeneration, string> = {
  1: '1.13.4',
  2: '2.12.0',
};

/**
 * The releases whose behaviour the stand-in models. 1.x before 1.7.0 had no token-minting RPCs at
 * all, so there is nothing to emulate there.
 */
export function checkVersionFitsGeneration(version: PachdVersion, generation: PachdGeneration): void {
  if (generation === 1 && (version.major !== 1 || !version.isAtLeast(1, 7, 0))) {
    throw new Error(`generation 1 emulates pachd 1.7.0 to 1.13.x, not ${version}`);
  }
  if (generation === 2 && version.major !== 2) {
    throw new Error(`generation 2 emulates pachd 2.x, not ${version}`);
  }
}
