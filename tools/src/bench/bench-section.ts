/** What every benchmark section gets: the run's mode and a progress log (stderr). */
export interface BenchContext {
  /** Smaller data for a smoke test; numbers are then indicative only. */
  readonly quick: boolean;
  /** When set, sections write CPU profiles (.cpuprofile) of what they measure here. */
  readonly profileDir?: string;
  log(line: string): void;
}

/** A printed table. */
export interface BenchTable {
  readonly title: string;
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>;
  readonly notes?: readonly string[];
}

/** A section's tables plus the same numbers, machine-readable, for the JSON report. */
export interface SectionResult extends BenchTable {
  /** Further tables printed after the main one (e.g. a profile breakdown). */
  readonly extra?: readonly BenchTable[];
  readonly data: Record<string, unknown>;
}

export interface BenchSection {
  /** Name used by `--only`. */
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}
