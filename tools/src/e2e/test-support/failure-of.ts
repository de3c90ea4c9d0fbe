import { expect } from 'vitest';
import { HavenError } from '@haven/core';

/** The HavenError `p` rejects with (failing the test if it resolves or throws anything else). */
export async function failureOf(p: Promise<unknown>): Promise<HavenError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HavenError);
  return err as HavenError;
}
