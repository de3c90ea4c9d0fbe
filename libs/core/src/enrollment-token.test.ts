import { describe, expect, it } from 'vitest';
import { formatEnrollmentToken, parseEnrollmentToken } from './enrollment-token.js';

describe('enrollment tokens', () => {
  const parts = { secret: 'A'.repeat(42) + 'w', caFingerprint: 'ab'.repeat(32) };
  it('round-trips', () => {
    const t = formatEnrollmentToken(parts);
    expect(t).toBe(`hvn1.${parts.secret}.${parts.caFingerprint}`);
    expect(parseEnrollmentToken(` ${t}\n`)).toEqual(parts);
  });
  it('rejects malformed tokens with one line', () => {
    for (const bad of ['', 'hvn1..', `hvn2.${parts.secret}.${parts.caFingerprint}`, `hvn1.${parts.secret}.${'AB'.repeat(32)}`]) {
      expect(() => parseEnrollmentToken(bad), bad).toThrow(/not an enrollment token/);
    }
  });
});
