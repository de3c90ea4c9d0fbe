/**
 * A readers-writer lock for async code. Commits hold it shared while they check their
 * chunks and write the catalog; GC holds it exclusively only for the instant it starts a
 * new generation, so a commit is either wholly before the mark (its roots are in the
 * live set) or wholly after it (its chunks carry the new generation).
 */
export interface RwLock {
  shared<T>(fn: () => Promise<T>): Promise<T>;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

export function createRwLock(): RwLock {
  let readers = 0;
  let writer = false;
  const waiting: Array<{ write: boolean; wake: () => void }> = [];

  function pump(): void {
    while (waiting.length > 0) {
      const next = waiting[0]!;
      if (next.write ? writer || readers > 0 : writer) return;
      waiting.shift();
      if (next.write) writer = true;
      else readers++;
      next.wake();
      if (next.write) return;
    }
  }

  async function acquire(write: boolean): Promise<void> {
    // Writers queue behind earlier readers and block later ones, so GC cannot starve.
    await new Promise<void>((wake) => {
      waiting.push({ write, wake });
      pump();
    });
  }

  function release(write: boolean): void {
    if (write) writer = false;
    else readers--;
    pump();
  }

  return {
    async shared(fn) {
      await acquire(false);
      try {
        return await fn();
      } finally {
        release(false);
      }
    },
    async exclusive(fn) {
      await acquire(true);
      try {
        return await fn();
      } finally {
        release(true);
      }
    },
  };
}
