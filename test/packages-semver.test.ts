import { describe, expect, it } from 'vitest';
import { compareSemver, highestVersion, isSemver, parseSemver } from '../src/packages/semver';

describe('semver', () => {
  it('accepts SemVer 2.0.0 and nothing looser', () => {
    for (const v of ['0.0.0', '1.2.3', '10.20.30', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-0.3.7', '1.0.0-x.7.z.92', '1.0.0+20130313144700', '1.0.0-beta+exp.sha.5114f85']) {
      expect(isSemver(v), v).toBe(true);
    }
    for (const v of ['1', '1.2', '01.2.3', '1.02.3', '1.2.03', 'v1.2.3', '1.2.3-', '1.2.3+', '1.2.3-01', '1.2.3-a..b', ' 1.2.3', '1.2.3 ', '']) {
      expect(isSemver(v), v).toBe(false);
    }
  });

  it('orders by precedence as semver.org §11 lists it', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2.0', '1.10.0', '2.0.0'];
    for (let i = 1; i < ordered.length; i++) {
      const [a, b] = [parseSemver(ordered[i - 1])!, parseSemver(ordered[i])!];
      expect(compareSemver(a, b), `${ordered[i - 1]} < ${ordered[i]}`).toBe(-1);
      expect(compareSemver(b, a)).toBe(1);
    }
    expect(compareSemver(parseSemver('1.0.0+a')!, parseSemver('1.0.0+b')!)).toBe(0);
  });

  it('compares numbers beyond 2^53 exactly', () => {
    expect(compareSemver(parseSemver('9007199254740993.0.0')!, parseSemver('9007199254740992.0.0')!)).toBe(1);
  });

  it('highestVersion picks the highest precedence, pre-releases included', () => {
    expect(highestVersion(['1.2.0', '1.10.0', '1.9.9'])).toBe('1.10.0');
    expect(highestVersion(['1.0.0', '2.0.0-rc.1'])).toBe('2.0.0-rc.1');
    expect(highestVersion(['2.0.0-rc.1', '2.0.0'])).toBe('2.0.0');
    expect(highestVersion([])).toBeNull();
  });
});
