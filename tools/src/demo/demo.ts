import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bins, repoRoot, runNode, startControllerProcess } from '@haven/testing';

/**
 * `npm start`: a controller on embedded defaults. The site's data lives in
 * .haven-demo/alpha (created on first run and reused afterwards).
 */
async function main(): Promise<void> {
  const demoDir = join(repoRoot, '.haven-demo');
  const dataDir = join(demoDir, 'alpha');
  mkdirSync(demoDir, { recursive: true });
  if (!existsSync(join(dataDir, 'site.json'))) {
    const init = await runNode(bins.controller, ['init', '--data', dataDir, '--site', 'alpha']);
    if (init.code !== 0) throw new Error(init.stderr.trim());
    process.stdout.write(init.stdout);
  }
  const port = Number(process.env['HAVEN_DEMO_PORT'] ?? 7443);
  const ctl = await startControllerProcess({ dataDir, site: 'alpha', port });
  process.stdout.write(
    [
      `controller for site alpha serving on ${ctl.address} (data in ${dataDir})`,
      `try:  npx haven --data ${dataDir} status`,
      `      npx haven --data ${dataDir} token create --host web-1`,
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  const stop = async (): Promise<void> => {
    await ctl.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  const how = await ctl.process.exited;
  process.stderr.write(`controller exited (${String(how)})\n${ctl.process.output()}\n`);
  process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`haven demo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
