export interface BenchArgs {
  readonly quick: boolean;
  /** Sections to run, in the registry's order; empty for all. */
  readonly only: readonly string[];
  /** Directory of the JSON reports. */
  readonly outDir: string;
  readonly profileDir?: string;
  readonly help: boolean;
}

export const BENCH_USAGE = `usage: npm run bench -- [--quick] [--only SECTION[,SECTION]]... [--out DIR] [--cpu-prof DIR]

  --quick          smaller data: a smoke test, numbers indicative only
  --only SECTION   run only these sections (repeatable or comma-separated)
  --out DIR        where bench-<timestamp>.json and latest.json go (default bench-results)
  --cpu-prof DIR   write CPU profiles of the measured work (ingest: agent and controller)`;

/** Parses argv; throws an Error with a one-line message on anything it does not know. */
export function parseBenchArgs(argv: readonly string[], sections: readonly string[]): BenchArgs {
  let quick = false;
  let help = false;
  let outDir = 'bench-results';
  let profileDir: string | undefined;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--only':
        for (const s of value().split(',')) {
          const name = s.trim();
          if (!sections.includes(name)) throw new Error(`unknown section "${name}" (sections: ${sections.join(', ')})`);
          only.push(name);
        }
        break;
      case '--out':
        outDir = value();
        break;
      case '--cpu-prof':
        profileDir = value();
        break;
      default:
        throw new Error(`unknown argument "${a}" (try --help)`);
    }
  }
  return { quick, only, outDir, help, ...(profileDir === undefined ? {} : { profileDir }) };
}
